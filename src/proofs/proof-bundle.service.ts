import { Inject, Injectable } from '@nestjs/common';
import { RUNTIME, type Runtime } from '../common/runtime';
import { sqlRows } from '../database/data-source';
import { EVENT_FROM_SQL, eventColumnsSql, type CustodyEventRow } from '../custody/custody-event.row';
import { eventScopeSql, type Scope } from '../auth/principal';
import { FraudService } from '../fraud/fraud.service';
import { ShipmentsService } from '../shipments/shipments.service';
import { signingSpec } from '../signing/custody-signing';
import { LEAF_FORMAT_V1, POD_FORMAT, type PodBatch, type PodEvent, type ProofBundle } from './pod-bundle';

type BundleRow = CustodyEventRow & { proof: string[] | null; leaf_index: number | null };

interface BatchRow {
  seq: string;
  root: string;
  leaf_count: number;
  status: string;
  chain_id: string | null;
  contract_address: string | null;
  tx_hash: string | null;
  block_number: string | null;
  anchored_at: Date | null;
}

/** Assembles `custody-pod/1` bundles from stored rows: proofs are read, never recomputed. */
@Injectable()
export class ProofBundleService {
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly shipments: ShipmentsService,
    private readonly fraud: FraudService,
  ) {}

  /** A scope that sees only part of the timeline gets only that part (which then does not verify as a whole). */
  async build(trackingNumber: string, carrier: string, scope: Scope): Promise<ProofBundle> {
    const shipment = await this.shipments.find(trackingNumber, carrier, scope);
    const params: unknown[] = [shipment.id];
    // personal values never go into a bundle: it is meant to be handed to third parties
    const rows = await sqlRows<BundleRow>(
      this.runtime.dataSource,
      `SELECT ${eventColumnsSql('FALSE')}, mp.proof, mp.leaf_index FROM ${EVENT_FROM_SQL} LEFT JOIN merkle_proofs mp ON mp.event_id = e.event_id
        WHERE e.shipment_id = $1 AND ${eventScopeSql(scope, params)} ORDER BY e.id`,
      params,
    );
    const seqs = [...new Set(rows.map((r) => r.batch_seq).filter((s): s is string => s !== null))];
    const batches = await sqlRows<BatchRow>(
      this.runtime.dataSource,
      `SELECT seq, root, leaf_count, status, chain_id, contract_address, tx_hash, block_number, anchored_at FROM anchor_batches WHERE seq = ANY($1::bigint[]) ORDER BY seq`,
      [seqs],
    );
    const spec = signingSpec(this.runtime.domain);
    const findings = await this.fraud.findingsFor(shipment, rows);
    return {
      format: POD_FORMAT,
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
      events: rows.map(toPodEvent),
      batches: batches.map(toPodBatch),
      findings: findings.map((f) => ({ code: f.code, severity: f.severity, message: f.message, eventIds: f.eventIds })),
    };
  }
}

function toPodEvent(r: BundleRow): PodEvent {
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
  };
}

function toPodBatch(b: BatchRow): PodBatch {
  const anchored = b.status === 'ANCHORED' || b.status === 'FINAL';
  return {
    seq: b.seq,
    root: b.root,
    leafCount: b.leaf_count,
    status: b.status,
    chainId: anchored ? b.chain_id : null,
    contractAddress: anchored ? b.contract_address : null,
    txHash: anchored ? b.tx_hash : null,
    blockNumber: anchored && b.block_number !== null ? Number(b.block_number) : null,
    anchoredAt: anchored && b.anchored_at ? b.anchored_at.toISOString() : null,
  };
}
