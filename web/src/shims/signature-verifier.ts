import { getBytes, keccak256 } from 'ethers';
// the same recovery rules as the service and the CLI (65 bytes, v 27/28 or 0/1, low s only)
import { recoverSigners as recoverWith } from '../../../src/signing/secp256k1-recover.js';
import type { RecoveryRequest, RecoveryResult } from '../../../src/signing/secp256k1-recover';

export type { RecoveryRequest, RecoveryResult };

/** src/signing/signature-verifier.ts for the browser: no worker pool, ethers' keccak for addresses. */
export function recoverSigners(requests: readonly RecoveryRequest[]): RecoveryResult[] {
  return recoverWith(requests, (data) => getBytes(keccak256(data)));
}
