import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { RUNTIME, type Runtime } from '../common/runtime';
import { inTransaction, sqlRows } from '../database/data-source';
import { ensurePartitions } from '../database/partitions';
import { buildBatchTree } from './merkle';
import { advisoryLockName } from '../anchoring/leader-lock';
import { batchRootV2, stateCommitment } from '../state/custody-state';
import { StateStore } from '../state/state-store';

export interface SealedBatch {
  seq: bigint;
  root: string;
  leafCount: number;
}


/**
 * Seals pending events into Merkle batches: when BATCH_MAX_EVENTS are pending, when the oldest
 * pending event is BATCH_MAX_AGE_MS old, or on request. The tree and every proof are computed
 * here, once, and stored; proof queries only read rows. Sealing is one transaction serialized by
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
      const events = await sqlRows<{ id: string; event_id: string; leaf: string }>(
        runner,
        `SELECT id, event_id, leaf FROM custody_events WHERE batch_seq IS NULL ORDER BY id LIMIT $1 FOR UPDATE`,
        [this.runtime.config.batchMaxEvents],
      );
      if (events.length === 0) return null;
      const tree = await buildBatchTree(events.map((e) => e.leaf));
      const [{ seq }] = await sqlRows<{ seq: string }>(runner, `SELECT coalesce(max(seq) + 1, 0)::text AS seq FROM anchor_batches`);
      const first = (await StateStore.latestSeq(runner)) === null;
      // the state as of this batch, committed with it: custody-tree/2 root = sortedPair(eventsRoot, keccak256(0x02 ‖ eventsRoot ‖ stateRoot))
      const records = await this.state.recordsFor(runner, seq, events.map((e) => e.id), first);
      const state = await this.state.apply(runner, seq, records);
      const root = batchRootV2(tree.root, state.root);
      // every event proof ends with the state commitment, so it folds to the anchored root itself
      const commitment = stateCommitment(tree.root, state.root);
      await runner.query(
        `INSERT INTO anchor_batches (seq, root, leaf_count, tree_version, events_root, state_root, state_changes) VALUES ($1, $2, $3, 2, $4, $5, $6)`,
        [seq, root, events.length, tree.root, state.root, state.changed],
      );
      await runner.query(`UPDATE custody_events SET batch_seq = $1 WHERE id = ANY($2::bigint[])`, [seq, events.map((e) => e.id)]);
      // proofs as one text[] literal per row: '{0xab..,0xcd..}'
      await runner.query(
        `INSERT INTO merkle_proofs (event_id, batch_seq, leaf_index, proof, event_row_id)
         SELECT u.event_id, $1, u.leaf_index, u.proof::text[], u.event_row_id FROM unnest($2::text[], $3::int[], $4::text[], $5::bigint[]) AS u(event_id, leaf_index, proof, event_row_id)`,
        [seq, events.map((e) => e.event_id), events.map((_, i) => i), tree.proofs.map((p) => `{${[...p, commitment].join(',')}}`), events.map((e) => e.id)],
      );
      return { seq: BigInt(seq), root, leafCount: events.length };
    });
    if (batch) {
      this.logger.log(`sealed batch ${batch.seq}: ${batch.leafCount} events, root ${batch.root}`);
      for (const listener of this.listeners) listener(batch);
      // one empty range ahead of the newest id (new ids never lack a partition: the tail takes them)
      await ensurePartitions(this.runtime.dataSource, this.runtime.config.partitionRangeEvents)
        .then((made) => made.length > 0 && this.logger.log(`made partition range(s) ${made.join(', ')} of custody_events and merkle_proofs`))
        .catch((err: Error) => this.logger.warn(`partition maintenance failed, will retry after the next batch: ${err.message}`));
    }
    return batch;
  }
}
