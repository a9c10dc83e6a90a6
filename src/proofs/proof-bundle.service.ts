import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { RUNTIME, type Runtime } from '../common/runtime';
import { sqlRows } from '../database/data-source';
import { eventProofSql } from '../batching/batch-trees';
import { EVENT_FROM_SQL, eventColumnsSql, type CustodyEventRow } from '../custody/custody-event.row';
import { eventScopeSql, type Scope } from '../auth/principal';
import { FraudService } from '../fraud/fraud.service';
import { ShipmentsService } from '../shipments/shipments.service';
import { signingSpec } from '../signing/custody-signing';
import { STATE_FORMAT, delegationStateKey, shipmentStateKey, signingKeyStateKey } from '../state/custody-state';
import { proofAt, recordsAt } from '../state/state-store';
import type { DelegationRow as Row } from '../delegations/delegation.model';
import {
  LEAF_FORMAT_V1,
  POD_FORMAT_V2,
  POD_FORMAT_V3,
  TREE_FORMATS,
  type ConsentKind,
  type PodBatchV2,
  type PodDelegation,
  type PodEventV2,
  type PodKeyRecord,
  type PodStateProof,
  type ProofBundleV2,
  type ProofBundleV3,
} from './pod-bundle';

type BundleRow = CustodyEventRow & { proof: string[] | null; leaf_index: number | null; counter_signer_organization: string | null };

interface BatchRow {
  seq: string;
  root: string;
  tree_version: number;
  events_root: string;
  state_root: string | null;
  leaf_count: number;
  status: string;
  chain_id: string | null;
  contract_address: string | null;
  tx_hash: string | null;
  block_number: string | null;
  anchored_at: Date | null;
}

/** A delegation as a bundle carries it: its signed fields and signature, and the organization of its signer's key. */
type DelegationRow = Pick<Row, 'delegation_id' | 'delegator' | 'delegate' | 'carrier' | 'tracking_number' | 'valid_from_ms' | 'valid_until_ms' | 'signature' | 'signer' | 'digest'> & { signer_organization: string };

/** The bundle formats the ledger writes: /3 by default; /2 on request, for verifiers that do not know /3 yet. */
export type WrittenPodFormat = typeof POD_FORMAT_V2 | typeof POD_FORMAT_V3;
export const WRITTEN_POD_FORMATS: readonly WrittenPodFormat[] = [POD_FORMAT_V3, POD_FORMAT_V2];

/** An event's proof: from its batch's stored tree, or its merkle_proofs row (batches sealed before trees were stored). */
const PROOF = eventProofSql('e', 'mp');

const BATCH_COLUMNS = 'seq, root, tree_version, events_root, state_root, leaf_count, status, chain_id, contract_address, tx_hash, block_number, anchored_at';

/**
 * Assembles `custody-pod/3` (or, on request, `custody-pod/2`) bundles from stored rows: event
 * proofs are read, never recomputed; state proofs are read against the latest anchored state.
 * Every row of one bundle is read from one database, `db`: the primary unless the caller's read was
 * routed to the read replica (ReadRouter).
 */
@Injectable()
export class ProofBundleService {
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly shipments: ShipmentsService,
    private readonly fraud: FraudService,
  ) {}

  /** A scope that sees only part of the timeline gets only that part (which then does not verify as a whole). */
  async build(trackingNumber: string, carrier: string, scope: Scope): Promise<ProofBundleV3>;
  async build(trackingNumber: string, carrier: string, scope: Scope, format: WrittenPodFormat, db?: DataSource): Promise<ProofBundleV2 | ProofBundleV3>;
  async build(trackingNumber: string, carrier: string, scope: Scope, format: WrittenPodFormat = POD_FORMAT_V3, db: DataSource = this.runtime.dataSource): Promise<ProofBundleV2 | ProofBundleV3> {
    const shipment = await this.shipments.find(trackingNumber, carrier, scope, db);
    const params: unknown[] = [shipment.id];
    // personal values never go into a bundle: it is meant to be handed to third parties
    const rows = await sqlRows<BundleRow>(
      db,
      `SELECT ${eventColumnsSql('FALSE')}, ${PROOF.proof} AS proof, ${PROOF.leafIndex} AS leaf_index,
              (SELECT co.slug FROM signing_keys ck JOIN organizations co ON co.id = ck.organization_id WHERE ck.address = e.counter_signer) AS counter_signer_organization
         FROM ${EVENT_FROM_SQL} LEFT JOIN merkle_proofs mp ON mp.event_id = e.event_id
        WHERE e.shipment_id = $1 AND ${eventScopeSql(scope, params)} ORDER BY e.id`,
      params,
    );
    const seqs = [...new Set(rows.map((r) => r.batch_seq).filter((s): s is string => s !== null))];
    const batches = await sqlRows<BatchRow>(
      db,
      `SELECT ${BATCH_COLUMNS} FROM anchor_batches WHERE seq = ANY($1::bigint[]) ORDER BY seq`,
      [seqs],
    );
    const spec = signingSpec(this.runtime.domain);
    const findings = await this.fraud.findingsFor(shipment, rows);
    const events = rows.map(toPodEvent);
    const v3 = format === POD_FORMAT_V3;
    const delegations = v3 ? await this.delegations(db, rows) : [];
    const state = await this.stateProof(db, carrier, trackingNumber, events, delegations);
    const bundle: ProofBundleV2 = {
      format: POD_FORMAT_V2,
      generatedAt: new Date().toISOString(),
      shipment: {
        trackingNumber,
        carrier,
        merchant: shipment.merchant?.slug ?? null,
        destination: shipment.destination,
        status: shipment.status,
        eventCount: shipment.eventCount,
        headLeaf: shipment.headLeaf,
      },
      signing: {
        version: spec.version,
        primaryType: spec.primaryType,
        domain: { ...spec.domain, chainId: spec.domain.chainId.toString() },
        types: spec.types,
      },
      leafFormat: LEAF_FORMAT_V1,
      treeFormat: TREE_FORMATS,
      stateFormat: STATE_FORMAT,
      events,
      batches: batches.map(toPodBatch),
      state,
      findings: findings.map((f) => ({ code: f.code, severity: f.severity, message: f.message, eventIds: f.eventIds })),
    };
    if (!v3) return bundle;
    return {
      ...bundle,
      format: POD_FORMAT_V3,
      events: events.map((e, i) => ({ ...e, consent: rows[i].consent ? { kind: rows[i].consent as ConsentKind, delegationId: rows[i].delegation_id } : null })),
      delegations,
    };
  }

  /** Every delegation an event relies on, as signed; their state records are added by stateProof. */
  private async delegations(db: DataSource, rows: BundleRow[]): Promise<PodDelegation[]> {
    const ids = [...new Set(rows.map((r) => r.delegation_id).filter((d): d is string => d !== null))];
    if (ids.length === 0) return [];
    const found = await sqlRows<DelegationRow>(
      db,
      `SELECT d.delegation_id, d.delegator, d.delegate, d.carrier, d.tracking_number, d.valid_from_ms::text AS valid_from_ms, d.valid_until_ms::text AS valid_until_ms,
              d.signature, d.signer, o.slug AS signer_organization, d.digest
         FROM custody_delegations d JOIN signing_keys k ON k.address = d.signer JOIN organizations o ON o.id = k.organization_id
        WHERE d.delegation_id = ANY($1::text[]) ORDER BY d.delegation_id`,
      [ids],
    );
    return found.map((d) => ({
      fields: { delegationId: d.delegation_id, delegator: d.delegator, delegate: d.delegate, carrier: d.carrier, trackingNumber: d.tracking_number, validFrom: d.valid_from_ms, validUntil: d.valid_until_ms },
      signature: d.signature,
      signer: d.signer,
      signerOrganization: d.signer_organization,
      digest: d.digest,
      state: null,
    }));
  }

  /**
   * Proofs against the latest anchored state: the shipment's head and the record of every key that
   * signed or counter-signed one of its events. A partial bundle (a scope that sees only some
   * events) still carries them, and then fails completeness, as it should. With delegations (/3):
   * also the records of their signers' keys, and each delegation's own record, set on it.
   */
  private async stateProof(db: DataSource, carrier: string, trackingNumber: string, events: PodEventV2[], delegations: PodDelegation[]): Promise<PodStateProof | null> {
    const [latest] = await sqlRows<BatchRow>(db, `SELECT ${BATCH_COLUMNS} FROM anchor_batches WHERE tree_version = 2 AND status IN ('ANCHORED','FINAL') ORDER BY seq DESC LIMIT 1`);
    if (!latest) return null;
    const seq = latest.seq;
    const shipmentKey = shipmentStateKey(carrier, trackingNumber);
    const signers = [...events.flatMap((e) => [e.signer, e.counterSigner]), ...delegations.map((d) => d.signer)];
    const addresses = [...new Set(signers.filter((a): a is string => a !== null).map((a) => a.toLowerCase()))];
    const keyOf = new Map(addresses.map((a) => [signingKeyStateKey(a), a]));
    const delegationKeys = delegations.map((d) => delegationStateKey(d.fields.delegationId));
    const records = await recordsAt(db, [shipmentKey, ...keyOf.keys(), ...delegationKeys], seq);
    const shipmentRecord = records.find((r) => r.key === shipmentKey);
    // a shipment none of whose events is sealed in the anchored state is not in it: nothing to prove yet
    if (!shipmentRecord) return null;
    const signingKeys: PodKeyRecord[] = [];
    for (const r of records.filter((x) => x.kind === 'SIGNING_KEY')) {
      signingKeys.push({
        address: r.address!,
        organization: r.organization!,
        validFromMs: r.valid_from_ms!,
        revokedAtMs: r.revoked_at_ms,
        key: r.key,
        proof: await proofAt(db, r.key, seq, latest.state_root!),
      });
    }
    signingKeys.sort((a, b) => (a.address < b.address ? -1 : 1));
    for (const [i, d] of delegations.entries()) {
      const r = records.find((x) => x.kind === 'DELEGATION' && x.key === delegationKeys[i]);
      // registered after the latest anchored state: not provable yet (the verifier says so)
      if (r) d.state = { revokedAtMs: r.revoked_at_ms, key: r.key, proof: await proofAt(db, r.key, seq, latest.state_root!) };
    }
    return {
      seq,
      root: latest.root,
      eventsRoot: latest.events_root,
      stateRoot: latest.state_root!,
      shipment: { key: shipmentKey, headLeaf: shipmentRecord.head_leaf!, eventCount: Number(shipmentRecord.event_count), proof: await proofAt(db, shipmentKey, seq, latest.state_root!) },
      signingKeys,
    };
  }
}

function toPodEvent(r: BundleRow): PodEventV2 {
  const anchored = r.batch_seq !== null;
  return {
    eventId: r.event_id,
    fields: {
      eventId: r.event_id,
      trackingNumber: r.tracking_number,
      carrier: r.carrier,
      eventType: r.event_type,
      custodian: r.custodian,
      occurredAt: r.occurred_at_ms,
      latE6: r.lat_e6,
      lonE6: r.lon_e6,
      accuracyM: Number(r.accuracy_m),
      locationCode: r.location_code,
      scanMethod: r.scan_method,
      evidenceHash: r.evidence_hash,
      dataHash: r.data_hash,
    },
    signature: r.signature,
    counterSignature: r.counter_signature,
    signer: r.signer,
    counterSigner: r.counter_signer,
    signerOrganization: r.signer_organization,
    counterSignerOrganization: r.counter_signer_organization,
    digest: r.digest,
    signaturesHash: r.signatures_hash,
    previousLeaf: r.previous_leaf,
    leaf: r.leaf,
    status: r.status,
    batchSeq: r.batch_seq,
    leafIndex: anchored ? r.leaf_index : null,
    proof: anchored ? r.proof : null,
    evidence: r.evidence_content_type ? { contentType: r.evidence_content_type, sizeBytes: Number(r.evidence_size_bytes), hash: r.evidence_hash } : null,
    flags: r.flags,
    dualAttested: r.dual_attested,
    correctsEventId: r.corrects_event_id,
    correctedBy: r.corrected_by,
    receivedAt: r.received_at.toISOString(),
    extraData: r.extra_data,
  };
}

function toPodBatch(b: BatchRow): PodBatchV2 {
  const anchored = b.status === 'ANCHORED' || b.status === 'FINAL';
  return {
    seq: b.seq,
    treeVersion: b.tree_version === 2 ? 2 : 1,
    root: b.root,
    eventsRoot: b.events_root,
    stateRoot: b.state_root,
    leafCount: b.leaf_count,
    status: b.status,
    chainId: anchored ? b.chain_id : null,
    contractAddress: anchored ? b.contract_address : null,
    txHash: anchored ? b.tx_hash : null,
    blockNumber: anchored && b.block_number !== null ? Number(b.block_number) : null,
    anchoredAt: anchored && b.anchored_at ? b.anchored_at.toISOString() : null,
  };
}
