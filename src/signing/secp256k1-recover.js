'use strict';
/**
 * Signer recovery for custody signatures, shared by the main thread and the worker pool
 * (plain JavaScript so worker threads load it without a TypeScript loader; types in
 * secp256k1-recover.d.ts). Native libsecp256k1 (the `secp256k1` package's prebuilt binding)
 * when it loads, otherwise the audited pure-JS @noble/curves: the same answers, slower.
 * Rules: 65 bytes (r ‖ s ‖ v), v ∈ {27, 28} (0/1 and EIP-155 style v ≥ 35 accepted, as ethers
 * accepted them before), low s only (EIP-2).
 */
const { secp256k1: noble } = require('@noble/curves/secp256k1');

let native = null;
try {
  if (process.env.CUSTODY_SECP256K1 !== 'js') native = require('secp256k1/bindings');
} catch {
  native = null;
}

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = SECP256K1_N >> 1n;
const SIGNATURE = /^0x[0-9a-fA-F]{130}$/;
const DIGEST = /^0x[0-9a-fA-F]{64}$/;

const backend = native ? 'native libsecp256k1' : 'pure JavaScript (@noble/curves)';

/** The uncompressed public key (65 bytes, 0x04 ‖ x ‖ y) or an Error with the reason. */
function recoverPublicKey(digest, rs, recovery) {
  if (native) {
    try {
      return native.ecdsaRecover(rs, recovery, digest, false);
    } catch (err) {
      return new Error(/parse/i.test(err.message) ? 'r or s is not a valid curve scalar' : 'no public key recovers from it');
    }
  }
  try {
    const sig = noble.Signature.fromCompact(rs).addRecoveryBit(recovery);
    return sig.recoverPublicKey(digest).toRawBytes(false);
  } catch (err) {
    return new Error(String(err && err.message ? err.message : err).split(' (')[0]);
  }
}

/**
 * requests: [{ digest, signature }] as 0x-hex; keccak: (bytes) => 32-byte Uint8Array.
 * Returns [{ ok: true, signer } | { ok: false, reason }] in the same order.
 */
function recoverSigners(requests, keccak) {
  return requests.map(({ digest, signature }) => {
    if (typeof signature !== 'string' || !SIGNATURE.test(signature)) return { ok: false, reason: 'signature must be 65 bytes (r ‖ s ‖ v) as 0x-prefixed hex' };
    if (typeof digest !== 'string' || !DIGEST.test(digest)) return { ok: false, reason: 'signature cannot be recovered: the digest is not 32 bytes' };
    if (BigInt('0x' + signature.slice(66, 130)) > HALF_N) return { ok: false, reason: 'signature s value is in the upper half of the curve order (high-s); use the canonical low-s form' };
    const v = parseInt(signature.slice(130, 132), 16);
    // as ethers' Signature.from, which recovered every signature stored so far: 27/28, 0/1, and an
    // EIP-155 style v >= 35 (odd: parity 0); a ledger may hold such events, their bundles must verify
    const recovery = v === 27 || v === 28 ? v - 27 : v === 0 || v === 1 ? v : v >= 35 ? (v & 1 ? 0 : 1) : -1;
    if (recovery < 0) return { ok: false, reason: `signature cannot be recovered: v must be 27 or 28 (or 0/1), not ${v}` };
    const key = recoverPublicKey(Buffer.from(digest.slice(2), 'hex'), Buffer.from(signature.slice(2, 130), 'hex'), recovery);
    if (key instanceof Error) return { ok: false, reason: `signature cannot be recovered: ${key.message}` };
    return { ok: true, signer: '0x' + Buffer.from(keccak(key.subarray(1))).subarray(12).toString('hex') };
  });
}

module.exports = { recoverSigners, backend };
