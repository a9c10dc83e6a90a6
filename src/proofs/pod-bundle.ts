/**
 * Proof-of-delivery bundles: everything needed to check a shipment's custody without trusting
 * the ledger. Protocols: change one only with a new version; pinned by
 * test/vectors/custody-pod-v1.json and custody-pod-v2.json. Field by field in the README.
 *
 * `custody-pod/1`: events, their inclusion proofs and the batches they are anchored in.
 * `custody-pod/2`: adds what the ledger's operator could otherwise lie about: the extra data that
 * binds a correction to the event it voids, and proofs against the latest anchored state map
 * (custody-state/1) that the events are ALL of the shipment's sealed events and that every signing
 * key belonged to the named organization.
 * `custody-pod/3`: adds consent (issue 9): per event the consent the ledger accepted a transfer
 * under, and every delegation (custody-delegation/1) an event relies on, with its signer's key
 * record and its own record in the same anchored state, so the custody chain can be replayed and
 * every transfer's consent re-checked from the bundle alone.
 */
import type { CustodyEventJson } from '../signing/custody-signing';
import type { DelegationJson } from '../signing/delegation-signing';

export const POD_FORMAT = 'custody-pod/1';
export const POD_FORMAT_V2 = 'custody-pod/2';
export const POD_FORMAT_V3 = 'custody-pod/3';
export type PodFormat = typeof POD_FORMAT | typeof POD_FORMAT_V2 | typeof POD_FORMAT_V3;

/** The 13 signed fields, occurredAt (unix ms, uint64) as a decimal string. */
export type PodSignedFields = CustodyEventJson;

export interface PodEvent {
  eventId: string;
  /** the EIP-712 CustodyEvent message, exactly as signed */
  fields: PodSignedFields;
  signature: string;
  counterSignature: string | null;
  /** the address the ledger recovered and found registered for the carrier or custodian */
  signer: string;
  counterSigner: string | null;
  signerOrganization: string;
  digest: string;
  signaturesHash: string;
  previousLeaf: string;
  leaf: string;
  /** PENDING | BATCHED | ANCHORED | FINAL when the bundle was made */
  status: string;
  batchSeq: string | null;
  leafIndex: number | null;
  /** sibling hashes bottom-up (sorted-pair keccak256); null while pending */
  proof: string[] | null;
  evidence: { contentType: string; sizeBytes: number; hash: string } | null;
  flags: string[];
  dualAttested: boolean;
  correctsEventId: string | null;
  correctedBy: string | null;
  receivedAt: string;
}

export interface PodBatch {
  seq: string;
  root: string;
  leafCount: number;
  status: string;
  chainId: string | null;
  contractAddress: string | null;
  txHash: string | null;
  blockNumber: number | null;
  anchoredAt: string | null;
}

export interface PodFinding {
  code: string;
  severity: string;
  message: string;
  eventIds: string[];
}

export interface ProofBundle {
  format: typeof POD_FORMAT;
  generatedAt: string;
  shipment: {
    trackingNumber: string;
    carrier: string;
    merchant: string | null;
    destination: { latE6: number; lonE6: number; radiusM: number } | null;
    status: string;
    eventCount: number;
    /** leaf of the last event: the end of the hash chain */
    headLeaf: string;
  };
  signing: {
    version: string;
    primaryType: string;
    domain: { name: string; version: string; chainId: string; verifyingContract: string };
    types: Record<string, Array<{ name: string; type: string }>>;
  };
  leafFormat: string;
  /** in arrival order, which is the hash-chain order (previousLeaf → leaf) */
  events: PodEvent[];
  batches: PodBatch[];
  findings: PodFinding[];
}

export const LEAF_FORMAT_V1 = 'custody-leaf/1: keccak256(keccak256(abi.encode(bytes32 digest, bytes32 signaturesHash, bytes32 previousLeaf))); tree: keccak256 of sorted pairs';

export const TREE_FORMAT_V1 = 'custody-tree/1: root = keccak256 sorted-pair tree over the event leaves';
/** The `treeFormat` text of /2 bundles: both tree versions, since a shipment's batches can be of either. */
export const TREE_FORMATS = `${TREE_FORMAT_V1}; custody-tree/2: root = sorted pair of eventsRoot and keccak256(0x02 ‖ eventsRoot ‖ stateRoot), which ends every event proof`;

export interface PodEventV2 extends PodEvent {
  /** organization of the counter-signing key, as the state map records it */
  counterSignerOrganization: string | null;
  /** the canonical extra-data document committed by fields.dataHash (salted commitments only, never personal values) */
  extraData: string | null;
}

export interface PodBatchV2 extends PodBatch {
  /** 1: root = eventsRoot (custody-tree/1); 2: root = sortedPair(eventsRoot, keccak256(0x02 ‖ eventsRoot ‖ stateRoot)) (custody-tree/2) */
  treeVersion: 1 | 2;
  eventsRoot: string;
  stateRoot: string | null;
}

export interface PodKeyRecord {
  address: string;
  organization: string;
  /** unix ms, decimal strings */
  validFromMs: string;
  revokedAtMs: string | null;
  /** custody-state/1 key of this record, and its proof (siblings from the root down) */
  key: string;
  proof: string[];
}

/** Proofs against the state map committed by batch `seq`: the latest one anchored when the bundle was made. */
export interface PodStateProof {
  seq: string;
  root: string;
  eventsRoot: string;
  stateRoot: string;
  shipment: { key: string; headLeaf: string; eventCount: number; proof: string[] };
  signingKeys: PodKeyRecord[];
}

export interface ProofBundleV2 extends Omit<ProofBundle, 'format' | 'events' | 'batches'> {
  format: typeof POD_FORMAT_V2;
  treeFormat: string;
  stateFormat: string;
  events: PodEventV2[];
  batches: PodBatchV2[];
  /** null until a batch with a state has been anchored */
  state: PodStateProof | null;
}

export const CONSENT_KINDS = ['SIGNED', 'COUNTER_SIGNED', 'DESIGNATED', 'DELEGATION'] as const;
export type ConsentKind = (typeof CONSENT_KINDS)[number];

/** The ledger's statement of how the releasing custodian consented to a transfer (null: not a transfer, or accepted before consent was recorded). */
export interface PodConsent {
  kind: ConsentKind;
  /** set exactly when kind is DELEGATION */
  delegationId: string | null;
}

export interface PodEventV3 extends PodEventV2 {
  consent: PodConsent | null;
}

/** A delegation an event of the bundle relies on: the signed statement, its signer, and its record in the bundle's state. */
export interface PodDelegation {
  /** the EIP-712 CustodyDelegation message, exactly as signed (validFrom, validUntil: unix ms as decimal strings) */
  fields: DelegationJson;
  signature: string;
  /** the delegator's key; its record is among state.signingKeys */
  signer: string;
  signerOrganization: string;
  /** EIP-712 digest of fields under the bundle's signing domain */
  digest: string;
  /** custody-state/1 record at state.seq: key delegationStateKey(delegationId), value delegationStateValue(digest, revokedAtMs); null if it is not in the anchored state (yet) */
  state: { revokedAtMs: string | null; key: string; proof: string[] } | null;
}

export interface ProofBundleV3 extends Omit<ProofBundleV2, 'format' | 'events'> {
  format: typeof POD_FORMAT_V3;
  events: PodEventV3[];
  /** every delegation an event relies on, by delegationId */
  delegations: PodDelegation[];
}

export type AnyProofBundle = ProofBundle | ProofBundleV2 | ProofBundleV3;
