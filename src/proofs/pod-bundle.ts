/**
 * Proof-of-delivery bundle, format `custody-pod/1`: everything needed to check a shipment's
 * custody without trusting the ledger. A protocol: change it only with a new version; pinned by
 * test/vectors/custody-pod-v1.json. Field by field in the README.
 */
import type { CustodyEventJson } from '../signing/custody-signing';

export const POD_FORMAT = 'custody-pod/1';

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
