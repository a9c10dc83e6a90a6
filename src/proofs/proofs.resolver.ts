import { Inject } from '@nestjs/common';
import { Args, Query, Resolver } from '@nestjs/graphql';
import { LedgerError } from '../common/errors';
import { RUNTIME, type Runtime } from '../common/runtime';
import { sqlRows } from '../database/data-source';
import { EVENT_STATUS_SQL, type CustodyEventStatus } from '../custody/custody-event.row';
import { InclusionProof } from './inclusion-proof.model';
import { eventProofSql } from '../batching/batch-trees';
import { Caller, Roles } from '../auth/decorators';
import { eventScopeSql, type Principal } from '../auth/principal';

interface ProofRow {
  event_id: string;
  status: CustodyEventStatus;
  digest: string;
  signatures_hash: string;
  previous_leaf: string;
  leaf: string;
  proof: string[] | null;
  leaf_index: number | null;
  batch_seq: string | null;
  root: string | null;
  chain_id: string | null;
  contract_address: string | null;
  tx_hash: string | null;
  block_number: string | null;
}

/** The event's proof: derived from its batch's stored tree, or its merkle_proofs row for batches sealed before trees were stored. */
const PROOF = eventProofSql('e', 'p');

@Resolver(() => InclusionProof)
export class ProofsResolver {
  constructor(@Inject(RUNTIME) private readonly runtime: Runtime) {}

  /** A row read (on the read replica when there is one): the proof's siblings are read from the tree stored when the batch was sealed, never recomputed. */
  @Query(() => InclusionProof)
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async inclusionProof(@Args('eventId') eventId: string, @Caller() caller: Principal): Promise<InclusionProof> {
    const id = eventId.toLowerCase();
    if (!/^0x[0-9a-f]{64}$/.test(id)) throw new LedgerError('NOT_FOUND', `no custody event ${eventId}`, 'eventId');
    const params: unknown[] = [id];
    const sql = `SELECT e.event_id, ${EVENT_STATUS_SQL} AS status, e.digest, e.signatures_hash, e.previous_leaf, e.leaf, ${PROOF.proof} AS proof, ${PROOF.leafIndex} AS leaf_index, e.batch_seq, b.root,
                  CASE WHEN b.status IN ('ANCHORED','FINAL') THEN b.chain_id END AS chain_id,
                  CASE WHEN b.status IN ('ANCHORED','FINAL') THEN b.contract_address END AS contract_address,
                  CASE WHEN b.status IN ('ANCHORED','FINAL') THEN b.tx_hash END AS tx_hash,
                  CASE WHEN b.status IN ('ANCHORED','FINAL') THEN b.block_number END AS block_number
             FROM custody_events e JOIN shipments s ON s.id = e.shipment_id LEFT JOIN anchor_batches b ON b.seq = e.batch_seq LEFT JOIN merkle_proofs p ON p.event_id = e.event_id
            WHERE e.event_id = $1 AND ${eventScopeSql(caller, params)}`;
    // NOT_FOUND is thrown inside the read: a read replica that has not replayed the event yet does not get the last word
    const row = await this.runtime.reads.run(caller, async (db) => {
      const [found] = await sqlRows<ProofRow>(db, sql, params);
      if (!found) throw new LedgerError('NOT_FOUND', `no custody event ${eventId}`, 'eventId');
      return found;
    });
    return {
      eventId: row.event_id,
      status: row.status,
      digest: row.digest,
      signaturesHash: row.signatures_hash,
      previousLeaf: row.previous_leaf,
      leaf: row.leaf,
      proof: row.proof,
      leafIndex: row.leaf_index,
      batchSeq: row.batch_seq === null ? null : BigInt(row.batch_seq),
      root: row.root,
      chainId: row.chain_id,
      contractAddress: row.contract_address,
      txHash: row.tx_hash,
      blockNumber: row.block_number === null ? null : Number(row.block_number),
    };
  }
}
