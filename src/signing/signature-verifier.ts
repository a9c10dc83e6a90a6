import path from 'node:path';
import { Piscina } from 'piscina';
import { getBytes, keccak256 } from 'ethers';
import { keccakSync } from './keccak';
import { backend, recoverSigners as recoverWith, type RecoveryRequest, type RecoveryResult } from './secp256k1-recover';

export type { RecoveryRequest, RecoveryResult };

/** Which secp256k1 implementation recovers signers here: native libsecp256k1, or the pure-JS fallback. */
export const SECP256K1_BACKEND: string = backend;

const keccak = (data: Uint8Array): Uint8Array => keccakSync(data) ?? getBytes(keccak256(data));

/**
 * The only place signatures are recovered, on the calling thread (used for a handful of
 * signatures: a delegation, a bundle check). Rules: 65 bytes (r ‖ s ‖ v), v ∈ {27, 28}
 * (0/1 accepted and normalised), low s only. Calls with many signatures go through
 * {@link SignaturePool} so they never hold the event loop.
 */
export function recoverSigners(requests: readonly RecoveryRequest[]): RecoveryResult[] {
  return recoverWith(requests, keccak);
}

/** Below this many signatures a call recovers on the event loop: a worker round trip would cost more (≈ 60 µs each natively). */
const INLINE_MAX = 8;
/** Signatures per worker task: small enough to spread a 1,000-event call over every thread. */
const TASK_SIZE = 128;

/**
 * Signature recovery off the event loop: a piscina pool of worker threads, each with its own
 * libsecp256k1 context (or the pure-JS fallback). `threads` = 0 recovers on the event loop.
 */
export class SignaturePool {
  private readonly pool: Piscina | null;

  constructor(threads: number) {
    this.pool =
      threads > 0
        ? new Piscina({
            filename: path.join(__dirname, 'recover-worker.js'),
            minThreads: 0,
            maxThreads: threads,
            idleTimeout: 60_000,
            // workers load plain JavaScript; they need none of the parent's TypeScript loaders
            execArgv: [],
          })
        : null;
  }

  async recover(requests: readonly RecoveryRequest[]): Promise<RecoveryResult[]> {
    if (!this.pool || requests.length <= INLINE_MAX) return recoverSigners(requests);
    const tasks: Array<Promise<RecoveryResult[]>> = [];
    for (let i = 0; i < requests.length; i += TASK_SIZE) tasks.push(this.pool.run(requests.slice(i, i + TASK_SIZE)));
    return (await Promise.all(tasks)).flat();
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}
