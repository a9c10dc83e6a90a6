import { Signature, recoverAddress } from 'ethers';

/** secp256k1 group order; EIP-2 rejects s above n/2 (the malleable twin of a valid signature). */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = SECP256K1_N >> 1n;

export interface RecoveryRequest {
  digest: string;
  signature: string;
}

export type RecoveryResult = { ok: true; signer: string } | { ok: false; reason: string };

/**
 * The only place signatures are recovered. It works on whole batches so it can move to
 * worker threads or a native secp256k1 later without touching its callers.
 * Rules: 65 bytes (r ‖ s ‖ v), v ∈ {27, 28} (0/1 accepted and normalised), low s only.
 */
export function recoverSigners(requests: readonly RecoveryRequest[]): RecoveryResult[] {
  return requests.map(({ digest, signature }) => {
    try {
      if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) return { ok: false, reason: 'signature must be 65 bytes (r ‖ s ‖ v) as 0x-prefixed hex' };
      if (BigInt('0x' + signature.slice(66, 130)) > HALF_N) return { ok: false, reason: 'signature s value is in the upper half of the curve order (high-s); use the canonical low-s form' };
      return { ok: true, signer: recoverAddress(digest, Signature.from(signature)).toLowerCase() };
    } catch (err) {
      return { ok: false, reason: `signature cannot be recovered: ${(err as Error).message.split(' (')[0]}` };
    }
  });
}
