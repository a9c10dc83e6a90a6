import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { RUNTIME, type Runtime } from '../common/runtime';
import { sqlRows } from '../database/data-source';
import { SealerService } from '../batching/sealer.service';
import { LeaderLock } from './leader-lock';

interface OpenBatch {
  seq: string;
  root: string;
  leaf_count: number;
  status: 'SEALED' | 'SUBMITTED' | 'ANCHORED';
  tx_hash: string | null;
  block_number: string | null;
  block_hash: string | null;
}

/**
 * Moves sealed batches onto the chain, in sequence order, from one leader at a time.
 * The batch row is the outbox: SEALED (to send) → SUBMITTED (tx hash recorded before waiting)
 * → ANCHORED (mined) → FINAL (CONFIRMATIONS deep, receipt re-checked against reorgs).
 * A crash between sending and recording is recovered from the contract itself (nextSeq and the
 * BatchAnchored log). Chain failures are retried with back-off and never touch ingestion.
 */
@Injectable()
export class AnchorerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Anchorer');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private failures = 0;
  private pausedUntil = 0;
  private readonly leader: LeaderLock;

  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    sealer: SealerService,
  ) {
    this.leader = new LeaderLock(runtime.config.database, 'anchorer');
    sealer.onSealed(() => this.nudge());
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.nudge(), this.runtime.config.anchorerIntervalMs);
    this.nudge();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    await this.leader.release();
  }

  nudge(): void {
    if (this.running || this.stopped || Date.now() < this.pausedUntil) return;
    this.running = this.tick()
      .then(() => {
        this.failures = 0;
      })
      .catch((err: Error) => {
        this.failures++;
        const delay = Math.min(60_000, this.runtime.config.anchorerIntervalMs * 2 ** Math.min(this.failures, 10));
        this.pausedUntil = Date.now() + delay;
        this.logger.warn(`anchoring paused ${delay} ms after failure ${this.failures}: ${err.message.split(' (')[0]}`);
      })
      .finally(() => {
        this.running = undefined;
      });
  }

  /**
   * Runs until every open batch has advanced as far as it can right now (tests await it). Its tick
   * goes through the same guard as the timer's, so the two never run at once (two ticks would send
   * transactions from one account side by side: NONCE_EXPIRED). Errors reach the caller.
   */
  async settle(): Promise<void> {
    for (let current = this.running; current; current = this.running) await current;
    this.pausedUntil = 0;
    // no await between the check above and taking the guard: nudge() cannot slip in
    const run = this.tick();
    const guard: Promise<void> = run.then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      if (this.running === guard) this.running = undefined;
    });
    this.running = guard;
    await run;
  }

  private async tick(): Promise<void> {
    if (!(await this.leader.acquire())) return;
    // a replica that started while the chain was down checks the chain first
    await this.runtime.chain.ready();
    const open = await sqlRows<OpenBatch>(
      this.runtime.dataSource,
      `SELECT seq, root, leaf_count, status, tx_hash, block_number, block_hash FROM anchor_batches WHERE status <> 'FINAL' ORDER BY seq`,
    );
    if (open.length === 0) return;
    const head = await this.runtime.chain.blockNumber();
    for (const batch of open) {
      if (this.stopped) return;
      if (batch.status === 'ANCHORED') await this.checkFinality(batch, head);
      else if (batch.status === 'SUBMITTED') await this.checkSubmitted(batch);
      else await this.submit(batch);
      // batches go on chain strictly in order: stop at the first one not yet mined
      const [{ status }] = await sqlRows<{ status: string }>(this.runtime.dataSource, `SELECT status FROM anchor_batches WHERE seq = $1`, [batch.seq]);
      if (status === 'SEALED' || status === 'SUBMITTED') return;
    }
  }

  private async submit(batch: OpenBatch): Promise<void> {
    const chain = this.runtime.chain;
    const seq = BigInt(batch.seq);
    const next = await chain.nextSeq();
    if (next > seq) {
      // already on chain: our own earlier attempt whose outcome we did not record
      const log = await chain.findAnchoredLog(seq);
      if (!log || log.root !== batch.root) {
        await this.recordError(batch.seq, `contract holds root ${log?.root ?? '(none)'} for seq ${seq}, ledger has ${batch.root}`);
        throw new Error(`ROOT MISMATCH for batch ${seq}: contract holds ${log?.root ?? 'nothing'}, ledger ${batch.root}; anchoring stopped, run the audit`);
      }
      await this.markAnchored(batch.seq, log);
      return;
    }
    if (next < seq) throw new Error(`contract expects seq ${next} but the next sealed batch is ${seq}; earlier batches are missing on chain`);
    await sqlRows(this.runtime.dataSource, `UPDATE anchor_batches SET attempts = attempts + 1 WHERE seq = $1`, [batch.seq]);
    const txHash = await chain.sendAnchor(seq, batch.root, batch.leaf_count);
    await sqlRows(
      this.runtime.dataSource,
      `UPDATE anchor_batches SET status = 'SUBMITTED', tx_hash = $2, submitted_at = now(), chain_id = $3, contract_address = $4, last_error = NULL WHERE seq = $1`,
      [batch.seq, txHash, chain.chainId.toString(), chain.contractAddress],
    );
    await this.checkSubmitted({ ...batch, status: 'SUBMITTED', tx_hash: txHash });
  }

  private async checkSubmitted(batch: OpenBatch): Promise<void> {
    const state = await this.runtime.chain.receipt(batch.tx_hash!);
    if (state.state === 'pending') return;
    if (state.state === 'mined' && state.success) {
      await this.markAnchored(batch.seq, state);
      return;
    }
    // reverted or dropped: back to the outbox; submit() first checks whether it landed after all
    await sqlRows(this.runtime.dataSource, `UPDATE anchor_batches SET status = 'SEALED', tx_hash = NULL, last_error = $2 WHERE seq = $1`, [
      batch.seq,
      state.state === 'mined' ? `transaction ${batch.tx_hash} reverted` : `transaction ${batch.tx_hash} was dropped by the node`,
    ]);
  }

  private async markAnchored(seq: string, at: { txHash: string; blockNumber: number; blockHash: string }): Promise<void> {
    // anchored_at is the block's time, which is what the contract records and a verifier compares
    const blockTime = await this.runtime.chain.blockTime(at.blockHash);
    await sqlRows(
      this.runtime.dataSource,
      `UPDATE anchor_batches SET status = 'ANCHORED', tx_hash = $2, block_number = $3, block_hash = $4, anchored_at = to_timestamp($7),
              chain_id = $5, contract_address = $6, last_error = NULL WHERE seq = $1`,
      [seq, at.txHash, at.blockNumber, at.blockHash, this.runtime.chain.chainId.toString(), this.runtime.chain.contractAddress, blockTime],
    );
    this.logger.log(`anchored batch ${seq} in block ${at.blockNumber} (tx ${at.txHash})`);
    await this.checkFinality({ seq, tx_hash: at.txHash, block_number: String(at.blockNumber), block_hash: at.blockHash } as OpenBatch, await this.runtime.chain.blockNumber());
  }

  private async checkFinality(batch: OpenBatch, head: number): Promise<void> {
    const depth = head - Number(batch.block_number) + 1;
    if (depth < this.runtime.config.confirmations) return;
    const state = await this.runtime.chain.receipt(batch.tx_hash!);
    if (state.state === 'mined' && state.success && state.blockHash === batch.block_hash) {
      await sqlRows(this.runtime.dataSource, `UPDATE anchor_batches SET status = 'FINAL', finalized_at = now() WHERE seq = $1 AND status = 'ANCHORED'`, [batch.seq]);
      return;
    }
    this.logger.warn(`batch ${batch.seq}: block ${batch.block_number} was reorganised away; anchoring it again`);
    await sqlRows(this.runtime.dataSource, `UPDATE anchor_batches SET status = 'SEALED', tx_hash = NULL, block_number = NULL, block_hash = NULL, anchored_at = NULL WHERE seq = $1`, [batch.seq]);
  }

  private async recordError(seq: string, message: string): Promise<void> {
    await sqlRows(this.runtime.dataSource, `UPDATE anchor_batches SET last_error = $2 WHERE seq = $1`, [seq, message]);
  }
}
