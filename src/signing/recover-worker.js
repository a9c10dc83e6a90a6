'use strict';
// One task of the signature pool (piscina): recover the signers of a slice of a call's signatures.
const { createKeccak } = require('hash-wasm');
const { recoverSigners } = require('./secp256k1-recover');

const hasher = createKeccak(256);

module.exports = async function recoverTask(requests) {
  const h = await hasher;
  return recoverSigners(requests, (data) => {
    h.init();
    h.update(data);
    return h.digest('binary');
  });
};
