export interface RecoveryRequest {
  digest: string;
  signature: string;
}
export type RecoveryResult = { ok: true; signer: string } | { ok: false; reason: string };
/** Recovers the signer of every request, in order; `keccak` hashes the public key into the address. */
export function recoverSigners(requests: readonly RecoveryRequest[], keccak: (data: Uint8Array) => Uint8Array): RecoveryResult[];
/** Which implementation recovers: 'native libsecp256k1' or 'pure JavaScript (@noble/curves)'. */
export const backend: string;
