import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { RUNTIME, type Runtime } from '../common/runtime';
import { inTransaction, sqlRows } from '../database/data-source';
import { ensurePartitions } from '../database/partitions';
import { FlatTree, NODE_BYTES, writeHexNode } from './merkle';
import { storeBatchTree } from './batch-trees';
import { advisoryLockName } from '../anchoring/leader-lock';
import { batchRootV2, stateCommitment } from '../state/custody-state';
import { StateStore } from '../state/state-store';

/** Pending events read, and updated, per statement while sealing: bounds the rows held in memory at once. */
export const SEAL_CHUNK = 50_000;

export interface SealedBatch {
  seq: bigint;
  root: string;
  leafCount: number;
}


/**
 * Seals pending events into Merkle batches: when BATCH_MAX_EVENTS are pending, when the oldest
 * pending event is BATCH_MAX_AGE_MS old, or on request. The tree and every proof are computed
 * here, once, in one streaming pass (about 64 B per event in memory), and stored as the tree's
 * levels (batch-trees.ts); proof queries derive an event's O(log n) siblings from them. Sealing is one transaction serialized by
 * an advisory lock, so replicas can all run this loop and sequence numbers never collide.
 */
@Injectable()
export class SealerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Sealer');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly listeners: Array<(batch: SealedBatch) => void> = [];

  private readonly lockName: string;
  private readonly state = new StateStore();
  /** Events per read and per UPDATE while sealing (tests set it small to cross chunk boundaries). */
  chunk = SEAL_CHUNK;

  constructor(@Inject(RUNTIME) private readonly runtime: Runtime) {
    this.lockName = advisoryLockName(runtime.config.database, 'sealer');
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.nudge(), this.runtime.config.sealerIntervalMs);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** Shutdown begins: no new timer seal starts; one in progress finishes its transaction (onApplicationShutdown awaits it). */
  stopTimer(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  onSealed(listener: (batch: SealedBatch) => void): void {
    this.listeners.push(listener);
  }

  /** Checks the triggers soon; cheap, and never runs two checks at once in this process. */
  nudge(): void {
    if (this.running || this.stopped) return;
    this.running = this.sealDue()
      .catch((err: Error) => this.logger.error(`sealing failed, will retry: ${err.message}`))
      .finally(() => {
        this.running = undefined;
      });
  }

  private async sealDue(): Promise<void> {
    const { batchMaxEvents, batchMaxAgeMs } = this.runtime.config;
    for (;;) {
      const [due] = await sqlRows<{ pending: number; oldest_ms: number | null }>(
        this.runtime.dataSource,
        `SELECT count(*)::int AS pending, (extract(epoch FROM now() - min(received_at)) * 1000)::float8 AS oldest_ms
           FROM (SELECT received_at FROM custody_events WHERE batch_seq IS NULL ORDER BY id LIMIT $1) p`,
        [batchMaxEvents],
      );
      if (due.pending === 0) return;
      if (due.pending < batchMaxEvents && (due.oldest_ms ?? 0) < batchMaxAgeMs) return;
      if (!(await this.sealNow())) return;
    }
  }

  /**
   * Seals up to BATCH_MAX_EVENTS pending events now; null when nothing is pending. The timer
   * skips when another sealer holds the lock; a requested seal (`wait`) queues behind it.
   */
  async sealNow(wait = false): Promise<SealedBatch | null> {
    const batch = await inTransaction(this.runtime.dataSource, async (runner) => {
      if (wait) await runner.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [this.lockName]);
      else {
        const [{ locked }] = await sqlRows<{ locked: boolean }>(runner, `SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked`, [this.lockName]);
        if (!locked) return null;
      }
      // streaming: pending events in id order, a chunk at a time, their leaves straight into the tree's bottom level
      const ids: string[] = [];
      let leaves = Buffer.allocUnsafe(Math.min(this.runtime.config.batchMaxEvents, this.chunk) * NODE_BYTES);
      for (let after = '-1'; ids.length < this.runtime.config.batchMaxEvents; ) {
        const chunk = await sqlRows<{ id: string; leaf: string }>(
          runner,
          `SELECT id, leaf FROM custody_events WHERE batch_seq IS NULL AND id > $1 ORDER BY id LIMIT $2 FOR UPDATE`,
          [after, Math.min(this.chunk, this.runtime.config.batchMaxEvents - ids.length)],
        );
        if (chunk.length === 0) break;
        if ((ids.length + chunk.length) * NODE_BYTES > leaves.length) {
          const grown = Buffer.allocUnsafe(Math.min(this.runtime.config.batchMaxEvents, 2 * (ids.length + chunk.length)) * NODE_BYTES);
          leaves.copy(grown, 0, 0, ids.length * NODE_BYTES);
          leaves = grown;
        }
        for (const e of chunk) {
          writeHexNode(leaves, ids.length, e.leaf);
          ids.push(e.id);
        }
        if (chunk.length < this.chunk) break;
        after = chunk[chunk.length - 1].id;
      }
      if (ids.length === 0) return null;
      const tree = await FlatTree.build(leaves.subarray(0, ids.length * NODE_BYTES), () => runner.query(`SELECT 1`));
      const [{ seq }] = await sqlRows<{ seq: string }>(runner, `SELECT coalesce(max(seq) + 1, 0)::text AS seq FROM anchor_batches`);
      const first = (await StateStore.latestSeq(runner)) === null;
      // the state as of this batch, committed with it: custody-tree/2 root = sortedPair(eventsRoot, keccak256(0x02 ‖ eventsRoot ‖ stateRoot))
      const records = await this.state.recordsFor(runner, seq, ids, first);
      const state = await this.state.apply(runner, seq, records);
      const root = batchRootV2(tree.root, state.root);
      await runner.query(
        `INSERT INTO anchor_batches (seq, root, leaf_count, tree_version, events_root, state_root, state_changes) VALUES ($1, $2, $3, 2, $4, $5, $6)`,
        [seq, root, ids.length, tree.root, state.root, state.changed],
      );
      // the tree once (about 64 B per event); every event proof ends with the state commitment, so it folds to the anchored root itself
      await storeBatchTree(runner, seq, tree, [stateCommitment(tree.root, state.root)]);
      // each event's batch and leaf index, a chunk of ids (sorted, locked above) per statement
      for (let from = 0; from < ids.length; from += this.chunk) {
        const part = ids.slice(from, from + this.chunk);
        await runner.query(
          `UPDATE custody_events e SET batch_seq = $1, leaf_index = $2 + u.n - 1 FROM unnest($3::bigint[]) WITH ORDINALITY AS u(id, n)
            WHERE e.id = u.id AND e.id BETWEEN $4 AND $5`,
          [seq, from, part, part[0], part[part.length - 1]],
        );
      }
      // scan-to-anchor latency for analytics: the batch's events counted per carrier, merchant and second of receipt
      await runner.query(
        `INSERT INTO batch_receipts (batch_seq, carrier_id, merchant_id, received_s, events)
         SELECT $1::bigint, s.carrier_id, s.merchant_id, date_trunc('second', e.received_at), count(*)::int
           FROM custody_events e JOIN shipments s ON s.id = e.shipment_id
          WHERE e.batch_seq = $1::bigint AND e.id BETWEEN $2 AND $3
          GROUP BY 2, 3, 4`,
        [seq, ids[0], ids[ids.length - 1]],
      );
      return { seq: BigInt(seq), root, leafCount: ids.length };
    });
    if (batch) {
      this.logger.log(`sealed batch ${batch.seq}: ${batch.leafCount} events, root ${batch.root}`);
      for (const listener of this.listeners) listener(batch);
      // one empty range ahead of the newest id (new ids never lack a partition: the tail takes them)
      await this.maintainPartitions()
        .then((made) => made.length > 0 && this.logger.log(`made partition range(s) ${made.join(', ')} of custody_events and merkle_proofs`))
        .catch((err: Error) => this.logger.warn(`partition maintenance failed, will retry after the next batch: ${err.message}`));
    }
    return batch;
  }

  /**
   * Partition maintenance locks both tables for a moment, behind the writers in flight; under a
   * burst of ingestion it can meet DB_LOCK_TIMEOUT_MS (55P03). It is tried three times, a moment
   * apart, before it waits for the next batch.
   */
  private async maintainPartitions(): Promise<string[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await ensurePartitions(this.runtime.dataSource, this.runtime.config.partitionRangeEvents);
      } catch (err) {
        const code = (err as { code?: string; driverError?: { code?: string } }).code ?? (err as { driverError?: { code?: string } }).driverError?.code;
        if (attempt >= 3 || code !== '55P03') throw err;
        await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
      }
    }
  }
}
