// In the browser there is no native libsecp256k1: loading it fails, and
// src/signing/secp256k1-recover.js falls back to the pure-JS @noble/curves, as it does in Node.
throw new Error('no native secp256k1 binding in the browser');
