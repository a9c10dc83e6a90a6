import type { CustodyEventRow } from '../custody/custody-event.row';
import type { DataSource } from 'typeorm';
import type { ChainClient } from '../anchoring/chain-client';
import { buildBatchTree, FlatTree } from '../batching/merkle';
import { batchRootV2, stateCommitment } from '../state/custody-state';
import { sqlRows } from '../database/data-source';
import {
  ZERO_HASH,
  custodyEventDigest,
  custodyLeaf,
  custodySigningDomain,
  domainSeparator,
  signaturesHash,
  type CustodyEventFields,
} from '../signing/custody-signing';

/**
 * The auditor's full check of the ledger against itself and against the chain (issue 4).
 *
 * For every batch in range it recomputes every event's leaf from the stored signed fields,
 * checks the per-shipment leaf chain, rebuilds the Merkle tree from the stored leaves and
 * compares root and proofs, and compares the batch with the contract (batchRoot) and its
 * BatchAnchored log. It also reports sequence numbers missing from the database or known only to
 * the chain, and batches or events waiting longer than the SLAs.
 *
 * Batches are read in chunks of BATCH_CHUNK and each batch's events with one query, so memory
 * stays bounded by the largest batch, never by the ledger.
 */

export const AUDIT_PROBLEM_CODES = [
  'LEAF_MISMATCH',
  'CHAIN_BROKEN',
  'ROOT_MISMATCH',
  'PROOF_MISMATCH',
  'CHAIN_ROOT_MISMATCH',
  'NOT_ON_CHAIN',
  'LOG_MISMATCH',
  'MISSING_SEQ',
  'UNKNOWN_ON_CHAIN',
  'SEALED_NOT_ANCHORED',
  'PENDING_PAST_SLA',
] as const;
export type AuditProblemCode = (typeof AUDIT_PROBLEM_CODES)[number];

/** ERROR: the ledger and/or the chain disagree with what was signed or anchored. WARNING: late, not wrong. */
export type AuditSeverity = 'ERROR' | 'WARNING';

export const SEVERITY_OF: Record<AuditProblemCode, AuditSeverity> = {
  LEAF_MISMATCH: 'ERROR',
  CHAIN_BROKEN: 'ERROR',
  ROOT_MISMATCH: 'ERROR',
  PROOF_MISMATCH: 'ERROR',
  CHAIN_ROOT_MISMATCH: 'ERROR',
  NOT_ON_CHAIN: 'ERROR',
  LOG_MISMATCH: 'ERROR',
  MISSING_SEQ: 'ERROR',
  UNKNOWN_ON_CHAIN: 'ERROR',
  SEALED_NOT_ANCHORED: 'WARNING',
  PENDING_PAST_SLA: 'WARNING',
};

export interface AuditProblem {
  code: AuditProblemCode;
  severity: AuditSeverity;
  /** decimal batch sequence number, when the problem concerns one batch */
  seq: string | null;
  /** 0x event id, when the problem concerns one event */
  eventId: string | null;
  message: string;
}

export interface AuditReport {
  /** true when there is no problem at all (warnings included) */
  ok: boolean;
  /** decimal; the first sequence number audited */
  fromSeq: string;
  /** decimal; the last sequence number audited; null when neither the ledger nor the chain has a batch in range */
  toSeq: string | null;
  batchesChecked: number;
  eventsChecked: number;
  chainId: string;
  contractAddress: string;
  problems: AuditProblem[];
}

export interface AuditOptions {
  fromSeq?: bigint;
  toSeq?: bigint;
  /** a batch still SEALED/SUBMITTED longer than this after sealed_at is reported */
  sealedSlaMs: number;
  /** an event still pending (no batch) longer than this after received_at is reported */
  pendingSlaMs: number;
  now?: Date;
  onProgress?: (done: number, total: number) => void;
}

/** What the audit needs from the chain: views and logs only (a read-only ChainClient does). */
export type AuditChain = Pick<ChainClient, 'chainId' | 'contractAddress' | 'nextSeq' | 'batchRoot' | 'findAnchoredLog'>;

/** Batches read per query. */
export const BATCH_CHUNK = 100;
/** Problems of one kind listed one by one before the rest is summarised (a broken ledger can have millions). */
export const MAX_LISTED = 100;

interface BatchRow {
  seq: string;
  root: string;
  tree_version: number;
  events_root: string;
  state_root: string | null;
  leaf_count: number;
  status: 'SEALED' | 'SUBMITTED' | 'ANCHORED' | 'FINAL';
  sealed_at: Date;
  chain_id: string | null;
  contract_address: string | null;
  tx_hash: string | null;
  block_number: string | null;
  block_hash: string | null;
  proof_rows: number;
}

/** The stored columns a leaf is recomputed from, plus where its proof and chain predecessor are. */
type EventRow = Pick<
  CustodyEventRow,
  | 'id' | 'event_id' | 'shipment_id' | 'tracking_number' | 'carrier' | 'event_type' | 'custodian' | 'occurred_at_ms' | 'lat_e6' | 'lon_e6' | 'accuracy_m'
  | 'location_code' | 'scan_method' | 'evidence_hash' | 'data_hash' | 'signature' | 'counter_signature' | 'digest' | 'signatures_hash' | 'previous_leaf' | 'leaf'
> & {
  proof_batch_seq: string | null;
  leaf_index: number | null;
  proof: string[] | null;
  /** the proof is derived from the batch's stored tree (batch_trees), not a merkle_proofs row */
  in_tree: boolean;
  prev_event_id: string | null;
  prev_leaf: string | null;
};

const BATCH_SQL = `SELECT b.seq, b.root, b.tree_version, b.events_root, b.state_root, b.leaf_count, b.status, b.sealed_at, b.chain_id, b.contract_address, b.tx_hash, b.block_number, b.block_hash,
    (SELECT count(*)::int FROM merkle_proofs mp WHERE mp.batch_seq = b.seq) + (SELECT count(*)::int FROM custody_events ce WHERE ce.batch_seq = b.seq AND ce.leaf_index IS NOT NULL) AS proof_rows
  FROM anchor_batches b WHERE b.seq >= $1::bigint AND b.seq <= $2::bigint ORDER BY b.seq LIMIT $3`;

// the shipment's previous event by arrival (id), wherever it is (an earlier batch, before the range)
const EVENTS_SQL = `SELECT e.id, e.event_id, e.shipment_id, e.tracking_number, e.carrier, e.event_type, e.custodian, e.occurred_at_ms, e.lat_e6, e.lon_e6,
    e.accuracy_m, e.location_code, e.scan_method, e.evidence_hash, e.data_hash, e.signature, e.counter_signature, e.digest, e.signatures_hash,
    e.previous_leaf, e.leaf, CASE WHEN e.leaf_index IS NOT NULL THEN e.batch_seq ELSE p.batch_seq END AS proof_batch_seq, coalesce(e.leaf_index, p.leaf_index) AS leaf_index,
    CASE WHEN e.leaf_index IS NULL THEN p.proof END AS proof, e.leaf_index IS NOT NULL AS in_tree, prev.event_id AS prev_event_id, prev.leaf AS prev_leaf
  FROM custody_events e
  LEFT JOIN merkle_proofs p ON p.event_id = e.event_id
  LEFT JOIN LATERAL (SELECT q.event_id, q.leaf FROM custody_events q WHERE q.shipment_id = e.shipment_id AND q.id < e.id ORDER BY q.id DESC LIMIT 1) prev ON true
  WHERE e.batch_seq = $1::bigint
  ORDER BY coalesce(e.leaf_index, p.leaf_index) NULLS LAST, e.id`;

const lower = (hex: string | null | undefined): string => (hex ?? '').toLowerCase();
const short = (hex: string): string => (hex.length > 18 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex);

class Problems {
  readonly list: AuditProblem[] = [];
  private readonly counts = new Map<AuditProblemCode, number>();

  add(code: AuditProblemCode, seq: bigint | string | null, eventId: string | null, message: string): void {
    const n = (this.counts.get(code) ?? 0) + 1;
    this.counts.set(code, n);
    if (n <= MAX_LISTED) this.list.push({ code, severity: SEVERITY_OF[code], seq: seq === null ? null : seq.toString(), eventId, message });
  }

  /** One closing line per code that had more problems than were listed. */
  summarise(): void {
    for (const [code, n] of this.counts) {
      if (n > MAX_LISTED) {
        this.list.push({ code, severity: SEVERITY_OF[code], seq: null, eventId: null, message: `${n - MAX_LISTED} more ${code} problem(s) not listed (${n} in all)` });
      }
    }
  }
}

function fieldsOf(e: EventRow): CustodyEventFields {
  return {
    eventId: e.event_id,
    trackingNumber: e.tracking_number,
    carrier: e.carrier,
    eventType: e.event_type,
    custodian: e.custodian,
    occurredAt: BigInt(e.occurred_at_ms),
    latE6: e.lat_e6,
    lonE6: e.lon_e6,
    accuracyM: Number(e.accuracy_m),
    locationCode: e.location_code,
    scanMethod: e.scan_method,
    evidenceHash: e.evidence_hash,
    dataHash: e.data_hash,
  };
}

function sameProof(a: readonly string[] | null, b: readonly string[]): boolean {
  return a !== null && a.length === b.length && a.every((x, i) => lower(x) === lower(b[i]));
}

/**
 * The stored proofs of events whose batch keeps its tree in batch_trees: derived from the stored
 * levels (read once per batch) as a proof query derives them, so step 3 compares them with the
 * rebuilt tree like merkle_proofs rows.
 */
async function storedTreeProofs(dataSource: DataSource, seq: string, events: EventRow[], problems: Problems): Promise<void> {
  const inTree = events.filter((e) => e.in_tree);
  if (inTree.length === 0) return;
  // as hex: PGlite parses a bytea result byte by byte
  const rows = await sqlRows<{ level: number; nodes: string }>(
    dataSource,
    `SELECT level, string_agg(encode(nodes, 'hex'), '' ORDER BY part) AS nodes FROM batch_trees WHERE batch_seq = $1::bigint GROUP BY level ORDER BY level`,
    [seq],
  );
  const levels = rows.filter((r) => r.level >= 0).map((r) => Buffer.from(r.nodes, 'hex'));
  if (levels.length === 0 || rows.some((r, i) => r.level !== i - (rows[0].level < 0 ? 1 : 0))) {
    problems.add('PROOF_MISMATCH', seq, null, `batch ${seq}: ${inTree.length} event(s) have a leaf index but the batch's stored tree is missing or has gaps (levels ${rows.map((r) => r.level).join(', ') || 'none'})`);
    return;
  }
  const stored = FlatTree.fromLevels(levels);
  const suffix = rows.filter((r) => r.level < 0).flatMap((r) => FlatTree.fromLevels([Buffer.from(r.nodes, 'hex')]).nodes());
  for (const e of inTree) e.proof = e.leaf_index! < stored.leafCount ? [...stored.proof(e.leaf_index!), ...suffix] : [];
}

function duration(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours} h ${minutes % 60} min` : `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** Domain separators by "chainId:contract", computed once per audit. */
class Domains {
  private readonly cache = new Map<string, string>();

  constructor(
    readonly latest: { chain_id: string; contract_address: string } | null,
    readonly all: Array<{ chain_id: string; contract_address: string }>,
  ) {}

  separator(chainId: string, contract: string): string {
    const key = `${chainId}:${contract.toLowerCase()}`;
    let sep = this.cache.get(key);
    if (!sep) {
      sep = domainSeparator(custodySigningDomain(BigInt(chainId), contract));
      this.cache.set(key, sep);
    }
    return sep;
  }
}

export async function auditAnchors(dataSource: DataSource, chain: AuditChain, opts: AuditOptions): Promise<AuditReport> {
  const now = opts.now ?? new Date();
  const problems = new Problems();
  const chainId = chain.chainId.toString();
  const contractAddress = chain.contractAddress;

  const deployments = await sqlRows<{ chain_id: string; contract_address: string }>(dataSource, `SELECT chain_id, contract_address FROM chain_deployments ORDER BY id`);
  const domains = new Domains(deployments[deployments.length - 1] ?? null, deployments);

  const [{ max_seq, n }] = await sqlRows<{ max_seq: string | null; n: string }>(dataSource, `SELECT max(seq) AS max_seq, count(*) AS n FROM anchor_batches`);
  const nextSeq = await chain.nextSeq();
  const fromSeq = opts.fromSeq ?? 0n;
  const lastKnown = [max_seq === null ? -1n : BigInt(max_seq), nextSeq - 1n].reduce((a, b) => (a > b ? a : b));
  const toSeq = opts.toSeq ?? lastKnown;
  const empty = toSeq < fromSeq;

  const [{ total }] = empty
    ? [{ total: 0 }]
    : await sqlRows<{ total: number }>(dataSource, `SELECT count(*)::int AS total FROM anchor_batches WHERE seq >= $1::bigint AND seq <= $2::bigint`, [fromSeq.toString(), toSeq.toString()]);

  let batchesChecked = 0;
  let eventsChecked = 0;
  let expected = fromSeq; // the next seq the database should have
  const dbMax = max_seq === null ? -1n : BigInt(max_seq);
  opts.onProgress?.(0, total);

  const missing = async (first: bigint, last: bigint): Promise<void> => {
    // one by one (asking the chain about each) up to MAX_LISTED, then one line for the rest
    const listedTo = last - first >= BigInt(MAX_LISTED) ? first + BigInt(MAX_LISTED) - 1n : last;
    for (let s = first; s <= listedTo; s++) {
      const onChain = s < nextSeq ? await chain.batchRoot(s) : ZERO_HASH;
      const known = onChain !== ZERO_HASH;
      if (s <= dbMax) {
        problems.add('MISSING_SEQ', s, null, `batch ${s} is missing from anchor_batches (a gap before batch ${last + 1n})${known ? `; the contract holds root ${onChain} for it` : ''}`);
      } else if (known) {
        problems.add('UNKNOWN_ON_CHAIN', s, null, `the contract holds batch ${s} (root ${onChain}) but this ledger knows only ${n} batch(es), up to seq ${dbMax}: is the database an older copy, or did someone else anchor on this contract?`);
      }
    }
    if (listedTo < last) {
      const rest = listedTo + 1n;
      if (rest <= dbMax) problems.add('MISSING_SEQ', rest, null, `batches ${rest}…${last < dbMax ? last : dbMax} are missing from anchor_batches as well`);
      const beyond = rest > dbMax ? rest : dbMax + 1n;
      if (beyond <= last && beyond < nextSeq) problems.add('UNKNOWN_ON_CHAIN', beyond, null, `the contract holds batches ${beyond}…${last < nextSeq - 1n ? last : nextSeq - 1n} as well, which this ledger does not know`);
    }
  };

  let cursor = fromSeq;
  while (!empty) {
    const batches = await sqlRows<BatchRow>(dataSource, BATCH_SQL, [cursor.toString(), toSeq.toString(), BATCH_CHUNK]);
    for (const batch of batches) {
      const seq = BigInt(batch.seq);
      if (seq > expected) await missing(expected, seq - 1n);
      expected = seq + 1n;
      eventsChecked += await auditBatch(dataSource, chain, batch, domains, problems, now, opts.sealedSlaMs, nextSeq);
      batchesChecked++;
      opts.onProgress?.(batchesChecked, total);
    }
    if (batches.length < BATCH_CHUNK) break;
    cursor = BigInt(batches[batches.length - 1].seq) + 1n;
  }
  // what is beyond the database's last batch: a gap if on chain, nothing otherwise
  if (!empty && expected <= toSeq) {
    const last = toSeq < nextSeq - 1n ? toSeq : nextSeq - 1n;
    if (expected <= last) await missing(expected, last);
  }

  await auditPending(dataSource, problems, now, opts.pendingSlaMs);
  problems.summarise();
  return {
    ok: problems.list.length === 0,
    fromSeq: fromSeq.toString(),
    toSeq: empty ? null : toSeq.toString(),
    batchesChecked,
    eventsChecked,
    chainId,
    contractAddress,
    problems: problems.list,
  };
}

async function auditBatch(
  dataSource: DataSource,
  chain: AuditChain,
  batch: BatchRow,
  domains: Domains,
  problems: Problems,
  now: Date,
  sealedSlaMs: number,
  nextSeq: bigint,
): Promise<number> {
  const seq = BigInt(batch.seq);
  const anchoredRow = batch.status === 'ANCHORED' || batch.status === 'FINAL';
  const events = await sqlRows<EventRow>(dataSource, EVENTS_SQL, [batch.seq]);
  await storedTreeProofs(dataSource, batch.seq, events, problems);

  // 1. every leaf from its signed fields, in the domain the batch was anchored in (or the current one)
  const domainChain = batch.chain_id && batch.contract_address ? { chain_id: batch.chain_id, contract_address: batch.contract_address } : domains.latest;
  for (const e of events) {
    const fields = fieldsOf(e);
    const sigHash = signaturesHash(e.signature, e.counter_signature);
    let digest: string | null = null;
    let leaf: string | null = null;
    if (domainChain) {
      digest = custodyEventDigest(domains.separator(domainChain.chain_id, domainChain.contract_address), fields);
      leaf = custodyLeaf(digest, sigHash, e.previous_leaf);
      if (leaf !== lower(e.leaf)) {
        // an embedded chain redeployed at another address re-anchors old batches there; the events were signed for the old domain
        for (const d of domains.all) {
          const other = custodyEventDigest(domains.separator(d.chain_id, d.contract_address), fields);
          if (custodyLeaf(other, sigHash, e.previous_leaf) === lower(e.leaf)) {
            digest = other;
            leaf = lower(e.leaf);
            break;
          }
        }
      }
    }
    const differences: string[] = [];
    if (!domainChain) differences.push('no chain deployment is recorded, so the EIP-712 domain is unknown');
    else if (leaf !== lower(e.leaf)) {
      differences.push(`recomputed leaf ${leaf} but the stored leaf is ${e.leaf}`);
      if (digest !== lower(e.digest)) differences.push(`recomputed digest ${digest} ≠ stored digest ${e.digest} (a signed field was changed after signing)`);
    } else if (digest !== lower(e.digest)) differences.push(`stored digest ${e.digest} ≠ recomputed ${digest}`);
    if (sigHash !== lower(e.signatures_hash)) differences.push(`stored signatures_hash ${e.signatures_hash} ≠ keccak256 of the stored signature(s) ${sigHash}`);
    if (differences.length > 0) {
      problems.add('LEAF_MISMATCH', seq, e.event_id, `batch ${seq}, event ${e.event_id} (${e.carrier}/${e.tracking_number} ${e.event_type}): ${differences.join('; ')}`);
    }

    // 2. the per-shipment hash chain, by arrival order
    const expectedPrev = e.prev_leaf ?? ZERO_HASH;
    if (lower(e.previous_leaf) !== lower(expectedPrev)) {
      problems.add(
        'CHAIN_BROKEN',
        seq,
        e.event_id,
        e.prev_event_id
          ? `batch ${seq}, event ${e.event_id} (${e.carrier}/${e.tracking_number}): previous_leaf is ${e.previous_leaf} but the shipment's previous event ${e.prev_event_id} has leaf ${expectedPrev}`
          : `batch ${seq}, event ${e.event_id} (${e.carrier}/${e.tracking_number}): it is the shipment's first event, so previous_leaf must be zero, but it is ${e.previous_leaf}`,
      );
    }
  }

  // 3. the tree from the stored leaves in leaf_index order: root and every stored proof
  if (events.length !== batch.leaf_count) {
    problems.add('ROOT_MISMATCH', seq, null, `batch ${seq}: leaf_count is ${batch.leaf_count} but ${events.length} event(s) belong to it`);
  }
  const indexed = events.filter((e) => e.leaf_index !== null && e.proof_batch_seq === batch.seq);
  const indicesOk = indexed.length === events.length && indexed.every((e, i) => e.leaf_index === i);
  for (const e of events) {
    if (e.leaf_index === null) problems.add('PROOF_MISMATCH', seq, e.event_id, `batch ${seq}, event ${e.event_id}: no stored proof`);
    else if (e.proof_batch_seq !== batch.seq) problems.add('PROOF_MISMATCH', seq, e.event_id, `batch ${seq}, event ${e.event_id}: its stored proof is for batch ${e.proof_batch_seq}`);
  }
  if (batch.proof_rows !== indexed.length) {
    problems.add('PROOF_MISMATCH', seq, null, `batch ${seq}: ${batch.proof_rows} stored proof(s) name this batch but ${indexed.length} of its events have one`);
  }
  if (indexed.length > 0 && !indicesOk) {
    problems.add('PROOF_MISMATCH', seq, null, `batch ${seq}: leaf indexes are not 0…${events.length - 1} (got ${indexed.map((e) => e.leaf_index).join(', ')})`);
  }
  if (events.length === 0) {
    problems.add('ROOT_MISMATCH', seq, null, `batch ${seq} has no events, so no tree can give its root ${batch.root}`);
  } else {
    const tree = await buildBatchTree(events.map((e) => lower(e.leaf)));
    // custody-tree/2 roots also commit to the state map, and every proof ends with that commitment
    const v2 = batch.tree_version === 2 && batch.state_root !== null;
    const expected = v2 ? batchRootV2(tree.root, batch.state_root!) : tree.root;
    const proofs = v2 ? tree.proofs.map((p) => [...p, stateCommitment(tree.root, batch.state_root!)]) : tree.proofs;
    if (tree.root !== lower(batch.events_root)) {
      problems.add('ROOT_MISMATCH', seq, null, `batch ${seq}: the tree rebuilt from its ${events.length} stored leaves has root ${tree.root} but the stored events root is ${batch.events_root}`);
    } else if (expected !== lower(batch.root)) {
      problems.add('ROOT_MISMATCH', seq, null, `batch ${seq}: the tree rebuilt from its ${events.length} stored leaves${batch.tree_version === 2 ? ' and the stored state root' : ''} gives root ${expected} but the stored root is ${batch.root}`);
    }
    events.forEach((e, i) => {
      if (e.proof !== null && e.leaf_index === i && !sameProof(e.proof, proofs[i])) {
        problems.add('PROOF_MISMATCH', seq, e.event_id, `batch ${seq}, event ${e.event_id} (leaf ${i}): the stored proof [${e.proof.map(short).join(', ')}] differs from the rebuilt one [${proofs[i].map(short).join(', ')}]`);
      }
    });
  }

  // 4. the chain: the contract's root for this seq and its BatchAnchored log
  if (batch.contract_address && (batch.chain_id !== chain.chainId.toString() || lower(batch.contract_address) !== lower(chain.contractAddress))) {
    problems.add('LOG_MISMATCH', seq, null, `batch ${seq} is recorded on chain ${batch.chain_id} contract ${batch.contract_address}, but the audited chain is ${chain.chainId} contract ${chain.contractAddress}`);
  }
  const onChainRoot = seq < nextSeq ? await chain.batchRoot(seq) : ZERO_HASH;
  if (anchoredRow) {
    if (onChainRoot === ZERO_HASH) {
      problems.add('NOT_ON_CHAIN', seq, null, `batch ${seq} is recorded as ${batch.status} (tx ${batch.tx_hash}, block ${batch.block_number}) but the contract has no root for seq ${seq} (nextSeq ${nextSeq})`);
    } else if (onChainRoot !== lower(batch.root)) {
      problems.add('CHAIN_ROOT_MISMATCH', seq, null, `batch ${seq}: the contract holds root ${onChainRoot} but the stored root is ${batch.root}`);
    }
    if (onChainRoot !== ZERO_HASH) {
      // the recorded block first (one request); a scan from the deployment block only when the log is not there
      const log = await chain.findAnchoredLog(seq, batch.block_number === null ? null : Number(batch.block_number));
      if (!log) problems.add('LOG_MISMATCH', seq, null, `batch ${seq}: the contract holds a root but no BatchAnchored log for seq ${seq} was found`);
      else {
        const diffs: string[] = [];
        if (log.root !== lower(batch.root)) diffs.push(`root ${log.root} in the log, ${batch.root} stored`);
        if (log.leafCount !== batch.leaf_count) diffs.push(`leafCount ${log.leafCount} in the log, ${batch.leaf_count} stored`);
        if (lower(log.txHash) !== lower(batch.tx_hash)) diffs.push(`tx ${log.txHash} in the log, ${batch.tx_hash ?? '(none)'} stored`);
        if (String(log.blockNumber) !== batch.block_number) diffs.push(`block ${log.blockNumber} in the log, ${batch.block_number ?? '(none)'} stored`);
        if (batch.block_hash && lower(log.blockHash) !== lower(batch.block_hash)) diffs.push(`block hash ${log.blockHash} in the log, ${batch.block_hash} stored`);
        if (diffs.length > 0) problems.add('LOG_MISMATCH', seq, null, `batch ${seq}: the BatchAnchored log differs from the stored anchor: ${diffs.join('; ')}`);
      }
    }
  } else {
    // not anchored yet as far as the ledger knows; whatever the contract already holds must be this root
    if (onChainRoot !== ZERO_HASH && onChainRoot !== lower(batch.root)) {
      problems.add('CHAIN_ROOT_MISMATCH', seq, null, `batch ${seq} (${batch.status}): the contract already holds root ${onChainRoot} for seq ${seq}, but the stored root is ${batch.root}; the anchorer cannot anchor it`);
    }
    const waited = now.getTime() - new Date(batch.sealed_at).getTime();
    if (waited > sealedSlaMs) {
      problems.add(
        'SEALED_NOT_ANCHORED',
        seq,
        null,
        `batch ${seq} was sealed at ${new Date(batch.sealed_at).toISOString()} and is still ${batch.status} after ${duration(waited)} (SLA ${duration(sealedSlaMs)})` +
          (onChainRoot === lower(batch.root) ? '; the contract holds its root already, the ledger has not recorded it' : ''),
      );
    }
  }
  return events.length;
}

async function auditPending(dataSource: DataSource, problems: Problems, now: Date, pendingSlaMs: number): Promise<void> {
  const cutoff = new Date(now.getTime() - pendingSlaMs);
  const late = await sqlRows<{ event_id: string; carrier: string; tracking_number: string; event_type: string; received_at: Date }>(
    dataSource,
    `SELECT event_id, carrier, tracking_number, event_type, received_at FROM custody_events WHERE batch_seq IS NULL AND received_at < $1 ORDER BY id LIMIT $2`,
    [cutoff, MAX_LISTED + 1],
  );
  for (const e of late.slice(0, MAX_LISTED)) {
    const waited = now.getTime() - new Date(e.received_at).getTime();
    problems.add('PENDING_PAST_SLA', null, e.event_id, `event ${e.event_id} (${e.carrier}/${e.tracking_number} ${e.event_type}) was received at ${new Date(e.received_at).toISOString()} and is still pending (in no batch) after ${duration(waited)} (SLA ${duration(pendingSlaMs)})`);
  }
  if (late.length > MAX_LISTED) {
    const [{ n }] = await sqlRows<{ n: number }>(dataSource, `SELECT count(*)::int AS n FROM custody_events WHERE batch_seq IS NULL AND received_at < $1`, [cutoff]);
    problems.list.push({ code: 'PENDING_PAST_SLA', severity: 'WARNING', seq: null, eventId: null, message: `${n - MAX_LISTED} more pending event(s) past the SLA not listed (${n} in all)` });
  }
}
