import { Inject, Injectable, Logger, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { LiveUpdatesService } from '../live/live-updates.service';
import type { QueryRunner } from 'typeorm';
import { RUNTIME, type Runtime } from '../common/runtime';
import { inTransaction, sqlRows } from '../database/data-source';
import { WebhooksService } from '../webhooks/webhooks.service';
import { SealerService } from '../batching/sealer.service';
import { GWEI, initialFees, replacementFees } from './anchor-fees';
import type { AnchorLocation, FeeQuote } from './chain-client';
import { LeaderLease, LeaseLostError, leaseFence } from './leader-lock';

interface OpenBatch {
  seq: string;
  root: string;
  leaf_count: number;
  status: 'SEALED' | 'SUBMITTED' | 'ANCHORED';
  tx_hash: string | null;
  block_number: string | null;
  block_hash: string | null;
  next_attempt_at: Date | null;
}

interface SentTransaction {
  tx_hash: string;
  nonce: string;
  max_fee_per_gas: string;
  max_priority_fee_per_gas: string;
  sent_at_block: string;
}

/** Every anchorer write carries the tick's lease token as $1 and applies only while it is still the live lease. */
const FENCE = leaseFence('anchorer', '$1');

/**
 * What a failure says on the batch and in the log: the first line of the message without ethers'
 * "(code=…, info=…)" tail, and never a URL (an RPC URL may hold an API key).
 */
export function publicError(err: unknown, rpcTimeoutMs: number): string {
  if ((err as { code?: string }).code === 'TIMEOUT') return `the chain node did not answer within RPC_TIMEOUT_MS (${rpcTimeoutMs} ms)`;
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].split(' (')[0].replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, '<url>').slice(0, 300);
}

/**
 * Moves sealed batches onto the chain, in sequence order, from one leader at a time.
 * The batch row is the outbox: SEALED (to send) → SUBMITTED (transaction signed and recorded in
 * anchor_transactions before the node sees it) → ANCHORED (mined) → FINAL (CONFIRMATIONS deep,
 * receipt re-checked against reorgs).
 *
 * Leadership is a lease (LeaderLease) and every write here is fenced by its token: a leader that
 * was paused past its lease changes nothing and stops its tick at its first write, before it sends
 * anything (the transaction's record is written, fenced, right before it is sent). On chain the
 * contract is the second fence: it accepts `anchorBatch(seq, …)` only for seq == nextSeq, so two
 * leaders can never anchor a batch twice, and both would send the same root anyway.
 *
 * A crash between sending and recording is recovered from the contract itself (nextSeq and the
 * BatchAnchored log). A transaction pending for ANCHOR_REPLACE_AFTER_BLOCKS blocks is replaced
 * with the same nonce and higher fees; every hash sent is kept, since any of them may be mined.
 * Chain failures are recorded on the batch (attempts, last_error, next_attempt_at) and retried
 * with a bounded back-off; they never touch ingestion.
 */
@Injectable()
export class AnchorerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Anchorer');
  private timer: NodeJS.Timeout | undefined;
  private renewal: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private ticksStopped = false;
  private failures = 0;
  private pausedUntil = 0;
  private readonly lease: LeaderLease;
  /** the lease token the tick in progress started under (its writes carry it) */
  private token: bigint | null = null;
  /** the batch the tick in progress works on, and whether it already counted an attempt on it */
  private working: string | null = null;
  private counted = false;

  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    sealer: SealerService,
    @Optional() private readonly live?: LiveUpdatesService,
    @Optional() private readonly webhooks?: WebhooksService,
  ) {
    this.lease = new LeaderLease(runtime.dataSource, 'anchorer', runtime.config.leaderLeaseMs);
    sealer.onSealed(() => this.nudge());
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.nudge(), this.runtime.config.anchorerIntervalMs);
    // a leader keeps its lease while it waits on a slow node, backs off or idles; a paused process renews nothing
    this.renewal = setInterval(() => void this.renew(), Math.max(10, Math.floor(this.runtime.config.leaderLeaseMs / 3)));
    this.nudge();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.renewal);
    await this.running;
    await this.lease.release().catch(() => undefined);
  }

  /**
   * Shutdown begins: no new tick starts, and a tick in progress stops after the batch it is on
   * (onApplicationShutdown awaits it). The lease is still renewed meanwhile, so it is never lost mid-tick.
   */
  stopTicks(): void {
    this.ticksStopped = true;
    clearInterval(this.timer);
  }

  nudge(): void {
    if (this.running || this.stopped || this.ticksStopped || Date.now() < this.pausedUntil) return;
    const run: Promise<void> = this.guardedTick()
      .catch(() => undefined)
      .finally(() => {
        if (this.running === run) this.running = undefined;
      });
    this.running = run;
  }

  /**
   * Runs until every open batch has advanced as far as it can right now (tests await it). Its tick
   * goes through the same guard as the timer's, so the two never run at once (two ticks would send
   * transactions from one account side by side: NONCE_EXPIRED). Errors reach the caller, after
   * they are recorded on the batch like the timer's.
   */
  async settle(): Promise<void> {
    for (let current = this.running; current; current = this.running) await current;
    this.pausedUntil = 0;
    // no await between the check above and taking the guard: nudge() cannot slip in
    const run = this.guardedTick();
    const guard: Promise<void> = run
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        if (this.running === guard) this.running = undefined;
      });
    this.running = guard;
    await run;
  }

  private async renew(): Promise<void> {
    if (this.stopped || this.lease.token === null) return;
    await this.lease.acquire().catch((err: Error) => this.logger.warn(`could not renew the anchoring lease: ${publicError(err, this.rpcTimeoutMs)}`));
  }

  private get rpcTimeoutMs(): number {
    const chain = this.runtime.config.chain;
    return chain.kind === 'external' ? (chain.rpcTimeoutMs ?? 10_000) : 10_000;
  }

  /** One tick; a failure is recorded on the batch it was working on and pauses the timer's ticks (bounded back-off). */
  private async guardedTick(): Promise<void> {
    try {
      await this.tick();
      this.failures = 0;
    } catch (err) {
      if (err instanceof LeaseLostError) {
        this.logger.warn(`${err.message}: another replica leads anchoring now; this tick stopped before doing anything more`);
        return;
      }
      await this.recordFailure(err);
      throw err;
    }
  }

  private async recordFailure(err: unknown): Promise<void> {
    this.failures++;
    const { anchorerIntervalMs, anchorBackoffMaxMs } = this.runtime.config;
    const delay = Math.min(anchorBackoffMaxMs, anchorerIntervalMs * 2 ** Math.min(this.failures, 30));
    this.pausedUntil = Date.now() + delay;
    const message = publicError(err, this.rpcTimeoutMs);
    this.logger.warn(`anchoring paused ${delay} ms after failure ${this.failures}: ${message}`);
    if (this.token === null) return; // not the leader: nothing to record on
    // on the batch the tick worked on, or else the first open one (the failure came before it was known)
    await sqlRows(
      this.runtime.dataSource,
      `UPDATE anchor_batches SET attempts = attempts + $3, last_error = $4, next_attempt_at = clock_timestamp() + $5::int * interval '1 millisecond'
        WHERE seq = coalesce($2::bigint, (SELECT min(seq) FROM anchor_batches WHERE status <> 'FINAL')) AND ${FENCE}`,
      [this.token.toString(), this.working, this.counted ? 0 : 1, message, delay],
    ).catch((e: Error) => this.logger.warn(`could not record the failure: ${publicError(e, this.rpcTimeoutMs)}`));
  }

  /**
   * A fenced write: $1 is the tick's token. Zero rows while the lease is no longer ours is
   * LeaseLostError, which stops the tick at once.
   */
  private async write<T = { seq: string }>(sql: string, params: unknown[], runner?: QueryRunner): Promise<T[]> {
    const token = this.token;
    if (token === null) throw new Error('anchorer write outside a tick');
    const rows = await sqlRows<T>(runner ?? this.runtime.dataSource, sql, [token.toString(), ...params]);
    if (rows.length === 0) {
      const [{ live }] = await sqlRows<{ live: boolean }>(this.runtime.dataSource, `SELECT ${FENCE} AS live`, [token.toString()]);
      if (!live) throw new LeaseLostError('anchorer', token);
    }
    return rows;
  }

  private async tick(): Promise<void> {
    this.working = null;
    this.counted = false;
    this.token = null;
    // an idle tick reads one row set and nothing else (a leader's lease is kept by the renewal timer)
    const open = await sqlRows<OpenBatch>(
      this.runtime.dataSource,
      `SELECT seq, root, leaf_count, status, tx_hash, block_number, block_hash, next_attempt_at FROM anchor_batches WHERE status <> 'FINAL' ORDER BY seq`,
    );
    if (open.length === 0) return;
    this.token = await this.lease.acquire();
    if (this.token === null) return;
    this.working = open[0].seq;
    // a replica that started while the chain was down runs start-up's chain checks first
    await this.runtime.chain.ready();
    const head = await this.runtime.chain.blockNumber();
    for (const batch of open) {
      if (this.stopped || this.ticksStopped) return;
      this.working = batch.seq;
      this.counted = false;
      if (batch.status === 'ANCHORED') await this.checkFinality(batch, head);
      else if (batch.status === 'SUBMITTED') await this.checkSubmitted(batch, head, true);
      else await this.submit(batch, head);
      // this batch advanced without a failure: the marks of earlier failures go
      if (batch.next_attempt_at !== null) {
        await this.write(`UPDATE anchor_batches SET next_attempt_at = NULL, last_error = NULL WHERE seq = $2 AND next_attempt_at IS NOT NULL AND ${FENCE} RETURNING seq`, [batch.seq]);
      }
      // batches go on chain strictly in order: stop at the first one not yet mined
      const [{ status }] = await sqlRows<{ status: string }>(this.runtime.dataSource, `SELECT status FROM anchor_batches WHERE seq = $1`, [batch.seq]);
      if (status === 'SEALED' || status === 'SUBMITTED') return;
    }
  }

  private get feeCeilingWei(): bigint {
    return BigInt(this.runtime.config.anchorMaxFeeGwei) * GWEI;
  }

  private async submit(batch: OpenBatch, head: number): Promise<void> {
    const chain = this.runtime.chain;
    const seq = BigInt(batch.seq);
    const next = await chain.nextSeq();
    if (next > seq) {
      // already on chain: our own earlier attempt whose outcome we did not record
      // the log, not a view: it is where every contract version keeps the leaf count (version 2 stores only the root)
      const log = await chain.findAnchoredLog(seq);
      if (!log || log.root !== batch.root || log.leafCount !== batch.leaf_count) {
        throw new Error(
          `ROOT MISMATCH for batch ${seq}: contract holds ${log ? `${log.root} (${log.leafCount} leaves)` : 'nothing'}, ledger ${batch.root} (${batch.leaf_count} leaves); anchoring stopped, run the audit`,
        );
      }
      await this.markAnchored(batch.seq, log);
      return;
    }
    if (next < seq) throw new Error(`contract expects seq ${next} but the next sealed batch is ${seq}; earlier batches are missing on chain`);
    const nonce = await chain.pendingNonce();
    await this.send(batch, nonce, initialFees(await chain.feeQuote(), this.feeCeilingWei), head, false);
    const [sent] = await sqlRows<OpenBatch>(this.runtime.dataSource, `SELECT seq, root, leaf_count, status, tx_hash, block_number, block_hash, next_attempt_at FROM anchor_batches WHERE seq = $1`, [batch.seq]);
    await this.checkSubmitted(sent, head, false);
  }

  /**
   * Signs, records (fenced: the lease is checked right before sending) and sends one anchor
   * transaction. The batch is SUBMITTED with this hash as its latest; earlier hashes stay in
   * anchor_transactions.
   */
  private async send(batch: OpenBatch, nonce: number, fees: FeeQuote, head: number, replacement: boolean): Promise<void> {
    const chain = this.runtime.chain;
    const signed = await chain.signAnchor(BigInt(batch.seq), batch.root, batch.leaf_count, { nonce, ...fees });
    await this.write(
      `WITH sent AS (
         INSERT INTO anchor_transactions (tx_hash, batch_seq, nonce, max_fee_per_gas, max_priority_fee_per_gas, sent_at_block, lease_token)
         SELECT $3, $2, $4, $5::numeric, $6::numeric, $7, $1 WHERE ${FENCE}
         ON CONFLICT (tx_hash) DO UPDATE SET sent_at = clock_timestamp(), sent_at_block = EXCLUDED.sent_at_block
         RETURNING batch_seq)
       UPDATE anchor_batches b SET status = 'SUBMITTED', tx_hash = $3, submitted_at = CASE WHEN b.status = 'SEALED' THEN now() ELSE b.submitted_at END,
              attempts = attempts + 1, chain_id = $8, contract_address = $9, last_error = NULL, next_attempt_at = NULL
         FROM sent WHERE b.seq = sent.batch_seq RETURNING b.seq`,
      [batch.seq, signed.hash, nonce, fees.maxFeePerGas.toString(), fees.maxPriorityFeePerGas.toString(), head, chain.chainId.toString(), chain.contractAddress],
    );
    this.counted = true;
    try {
      await chain.broadcast(signed.raw);
    } catch (err) {
      // the transaction it replaces was mined meanwhile: the next check finds it
      if (replacement && (err as { code?: string }).code === 'NONCE_EXPIRED') return;
      throw err;
    }
  }

  /**
   * Looks at every transaction sent for the batch (a replacement shares its original's nonce, and
   * either may be mined). A mined one anchors the batch; pending ones wait and are replaced with
   * higher fees after ANCHOR_REPLACE_AFTER_BLOCKS; none mined nor pending (reverted, dropped,
   * reorganised away) sends the batch back to SEALED, and (`resubmit`) on chain again at once.
   */
  private async checkSubmitted(batch: OpenBatch, head: number, resubmit: boolean): Promise<void> {
    const sent = await sqlRows<SentTransaction>(
      this.runtime.dataSource,
      `SELECT tx_hash, nonce::text AS nonce, max_fee_per_gas::text AS max_fee_per_gas, max_priority_fee_per_gas::text AS max_priority_fee_per_gas, sent_at_block::text AS sent_at_block
         FROM anchor_transactions WHERE batch_seq = $1 ORDER BY sent_at, max_fee_per_gas`,
      [batch.seq],
    );
    const hashes = [...new Set([...sent.map((s) => s.tx_hash), ...(batch.tx_hash ? [batch.tx_hash] : [])])];
    let pending = false;
    let reverted: string | null = null;
    for (const hash of hashes) {
      const state = await this.runtime.chain.receipt(hash);
      if (state.state === 'mined' && state.success) {
        await this.markAnchored(batch.seq, state);
        return;
      }
      if (state.state === 'mined') reverted = hash;
      if (state.state === 'pending') pending = true;
    }
    if (pending) {
      await this.replaceIfStuck(batch, sent[sent.length - 1], head);
      return;
    }
    // back to the outbox; submit() first checks whether it landed after all
    const why = reverted ? `transaction ${reverted} reverted` : `transaction ${batch.tx_hash ?? hashes[hashes.length - 1] ?? '(none)'} was dropped by the node`;
    await this.write(`UPDATE anchor_batches SET status = 'SEALED', tx_hash = NULL, last_error = $3 WHERE seq = $2 AND ${FENCE} RETURNING seq`, [batch.seq, why]);
    if (resubmit) await this.submit({ ...batch, status: 'SEALED', tx_hash: null }, head);
  }

  private async replaceIfStuck(batch: OpenBatch, latest: SentTransaction | undefined, head: number): Promise<void> {
    if (!latest) return; // sent before transactions were recorded: no nonce to replace
    const waited = head - Number(latest.sent_at_block);
    if (waited < this.runtime.config.anchorReplaceAfterBlocks) return;
    const previous = { maxFeePerGas: BigInt(latest.max_fee_per_gas), maxPriorityFeePerGas: BigInt(latest.max_priority_fee_per_gas) };
    const fees = replacementFees(previous, await this.runtime.chain.feeQuote(), this.feeCeilingWei);
    if (!fees) {
      const why = `transaction ${latest.tx_hash} pending for ${waited} blocks; its fees are at ANCHOR_MAX_FEE_GWEI (${this.runtime.config.anchorMaxFeeGwei} gwei), so it is not replaced`;
      await this.write(`UPDATE anchor_batches SET last_error = $3 WHERE seq = $2 AND ${FENCE} RETURNING seq`, [batch.seq, why]);
      return;
    }
    this.logger.warn(
      `batch ${batch.seq}: transaction ${latest.tx_hash} pending for ${waited} blocks; replacing it (nonce ${latest.nonce}) with maxFeePerGas ${fees.maxFeePerGas}, maxPriorityFeePerGas ${fees.maxPriorityFeePerGas} wei`,
    );
    await this.send(batch, Number(latest.nonce), fees, head, true);
  }

  private async markAnchored(seq: string, at: AnchorLocation): Promise<void> {
    const chain = this.runtime.chain;
    // anchored_at is the block's time, which is what the BatchAnchored log carries and a verifier compares;
    // anchor_seen_at is the ledger's own clock (the one received_at is on), for scan-to-anchor latency
    const blockTime = await chain.blockTime(at.blockHash);
    await inTransaction(this.runtime.dataSource, async (runner) => {
      await this.write(
        `UPDATE anchor_batches SET status = 'ANCHORED', tx_hash = $3, block_number = $4, block_hash = $5, anchored_at = to_timestamp($8), anchor_seen_at = now(),
                chain_id = $6, contract_address = $7, last_error = NULL, next_attempt_at = NULL WHERE seq = $2 AND ${FENCE} RETURNING seq`,
        [seq, at.txHash, at.blockNumber, at.blockHash, chain.chainId.toString(), chain.contractAddress, blockTime],
        runner,
      );
      await this.webhooks?.batchAnchored(runner, seq);
    });
    this.logger.log(`anchored batch ${seq} in block ${at.blockNumber} (tx ${at.txHash})`);
    await this.live?.batchAnchored(seq);
    const anchored = { seq, tx_hash: at.txHash, block_number: String(at.blockNumber), block_hash: at.blockHash, status: 'ANCHORED', next_attempt_at: null } as OpenBatch;
    await this.checkFinality(anchored, await chain.blockNumber());
  }

  /**
   * FINAL once the anchoring block is CONFIRMATIONS deep and the receipt still names it. A block
   * reorganised away sends the batch back to SUBMITTED: its transactions are looked at again (one
   * re-included elsewhere only moves the batch; none left on chain means anchoring it anew).
   */
  private async checkFinality(batch: OpenBatch, head: number): Promise<void> {
    const depth = head - Number(batch.block_number) + 1;
    if (depth < this.runtime.config.confirmations) return;
    const state = await this.runtime.chain.receipt(batch.tx_hash!);
    if (state.state === 'mined' && state.success && state.blockHash === batch.block_hash) {
      await this.write(`UPDATE anchor_batches SET status = 'FINAL', finalized_at = now() WHERE seq = $2 AND status = 'ANCHORED' AND ${FENCE} RETURNING seq`, [batch.seq]);
      return;
    }
    this.logger.warn(`batch ${batch.seq}: block ${batch.block_number} (${batch.block_hash}) was reorganised away; looking for its transaction on the new chain`);
    await this.write(`UPDATE anchor_batches SET status = 'SUBMITTED', block_number = NULL, block_hash = NULL, anchored_at = NULL WHERE seq = $2 AND ${FENCE} RETURNING seq`, [batch.seq]);
    await this.checkSubmitted({ ...batch, status: 'SUBMITTED', block_number: null, block_hash: null }, head, true);
  }
}
