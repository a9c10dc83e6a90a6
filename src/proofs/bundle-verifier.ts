import { Contract, JsonRpcProvider, getAddress, type Provider } from 'ethers';
import { CUSTODY_ANCHOR_ABI } from '../anchoring/custody-anchor';
import { rootFromProof } from '../batching/merkle';
import {
  CUSTODY_EVENT_TYPES,
  SIGNING_DOMAIN_NAME,
  SIGNING_DOMAIN_VERSION,
  SIGNING_SPEC_VERSION,
  ZERO_HASH,
  custodyEventDigest,
  custodyLeaf,
  domainSeparator,
  signaturesHash,
  type CustodyEventFields,
} from '../signing/custody-signing';
import { recoverSigners } from '../signing/signature-verifier';
import { POD_FORMAT, type PodBatch, type PodEvent, type ProofBundle } from './pod-bundle';

/**
 * Verifies a `custody-pod/1` bundle with nothing but the bundle and a JSON-RPC endpoint of the
 * anchor chain: no NestJS, no database, no trust in the ledger. It recomputes every EIP-712
 * digest from the signed fields, recovers every signer, recomputes every leaf and the hash chain
 * from the first event to the last, folds every Merkle proof to its root, and reads each root
 * from the contract (and the anchoring transaction's BatchAnchored log).
 *
 * What it does NOT establish, and a caller MUST weigh: that the signing key belonged to the
 * organization the bundle names (the key registry is the ledger's statement), and what happened
 * to the parcel beyond what was signed.
 */
export type VerificationCheck =
  | 'FORMAT'
  | 'DOMAIN'
  | 'CONTRACT'
  | 'DIGEST'
  | 'SIGNATURE'
  | 'COUNTER_SIGNATURE'
  | 'SIGNATURES_HASH'
  | 'LEAF'
  | 'CHAIN'
  | 'MERKLE_PROOF'
  | 'BATCH_ROOT'
  | 'ANCHOR_TX';

export interface VerificationFailure {
  check: VerificationCheck;
  eventId: string | null;
  eventIndex: number | null;
  batchSeq: string | null;
  message: string;
}

export interface VerificationReport {
  format: 'custody-pod-verification/1';
  /** VALID: every check passed and every event is anchored; INCOMPLETE: nothing failed but some events are not anchored yet; INVALID: a check failed */
  verdict: 'VALID' | 'INCOMPLETE' | 'INVALID';
  trackingNumber: string | null;
  carrier: string | null;
  chainId: string | null;
  contractAddress: string | null;
  eventsChecked: number;
  batchesChecked: number;
  pendingEventIds: string[];
  failures: VerificationFailure[];
  checkedAt: string;
}

export interface VerifyOptions {
  /** JSON-RPC URL of the anchor chain */
  rpcUrl?: string;
  /** or a provider (tests, or callers with their own node) */
  provider?: Provider;
}

const HEX32 = /^0x[0-9a-fA-F]{64}$/;
const HEX65 = /^0x[0-9a-fA-F]{130}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const ANCHORED = new Set(['ANCHORED', 'FINAL']);

export async function verifyProofBundle(input: unknown, options: VerifyOptions): Promise<VerificationReport> {
  const failures: VerificationFailure[] = [];
  const fail = (check: VerificationCheck, message: string, at: { eventId?: string | null; eventIndex?: number | null; batchSeq?: string | null } = {}): void => {
    failures.push({ check, eventId: at.eventId ?? null, eventIndex: at.eventIndex ?? null, batchSeq: at.batchSeq ?? null, message });
  };
  const report = (bundle: ProofBundle | null, extra: Partial<VerificationReport> = {}): VerificationReport => ({
    format: 'custody-pod-verification/1',
    verdict: failures.length > 0 ? 'INVALID' : (extra.pendingEventIds?.length ?? 0) > 0 ? 'INCOMPLETE' : 'VALID',
    trackingNumber: bundle?.shipment?.trackingNumber ?? null,
    carrier: bundle?.shipment?.carrier ?? null,
    chainId: bundle?.signing?.domain?.chainId ?? null,
    contractAddress: bundle?.signing?.domain?.verifyingContract ?? null,
    eventsChecked: 0,
    batchesChecked: 0,
    pendingEventIds: [],
    failures,
    checkedAt: new Date().toISOString(),
    ...extra,
  });

  const problems = formatProblems(input);
  if (problems.length > 0) {
    for (const p of problems) fail('FORMAT', p);
    return report(null);
  }
  const bundle = input as ProofBundle;
  const { domain } = bundle.signing;
  if (bundle.signing.version !== SIGNING_SPEC_VERSION || domain.name !== SIGNING_DOMAIN_NAME || domain.version !== SIGNING_DOMAIN_VERSION || bundle.signing.primaryType !== 'CustodyEvent') {
    fail('DOMAIN', `the bundle uses signing spec ${bundle.signing.version} / domain ${domain.name} ${domain.version}; this verifier checks ${SIGNING_SPEC_VERSION} (${SIGNING_DOMAIN_NAME} ${SIGNING_DOMAIN_VERSION})`);
  }
  if (JSON.stringify(bundle.signing.types.CustodyEvent) !== JSON.stringify(CUSTODY_EVENT_TYPES.CustodyEvent)) {
    fail('DOMAIN', 'the CustodyEvent type in the bundle differs from signing spec v1');
  }
  const chainId = BigInt(domain.chainId);
  const contractAddress = getAddress(domain.verifyingContract);
  const separator = domainSeparator({ name: SIGNING_DOMAIN_NAME, version: SIGNING_DOMAIN_VERSION, chainId, verifyingContract: contractAddress });

  // 1. every event: digest, signatures, leaf, chain
  const batchBySeq = new Map(bundle.batches.map((b) => [b.seq, b]));
  const recomputed: Array<{ event: PodEvent; leaf: string }> = [];
  const recovery = recoverSigners(
    bundle.events.flatMap((e) => {
      const digest = digestOf(separator, e);
      return [{ digest, signature: e.signature }, ...(e.counterSignature ? [{ digest, signature: e.counterSignature }] : [])];
    }),
  );
  let cursor = 0;
  let previous = ZERO_HASH;
  const pending: string[] = [];
  for (const [index, event] of bundle.events.entries()) {
    const at = { eventId: event.eventId, eventIndex: index, batchSeq: event.batchSeq };
    const digest = digestOf(separator, event);
    if (digest !== event.digest.toLowerCase()) fail('DIGEST', `event #${index}: the signed fields hash to ${digest}, the bundle says ${event.digest}: a signed field was changed`, at);
    if (event.fields.eventId.toLowerCase() !== event.eventId.toLowerCase()) fail('DIGEST', `event #${index}: fields.eventId differs from eventId`, at);
    if (event.fields.trackingNumber !== bundle.shipment.trackingNumber || event.fields.carrier !== bundle.shipment.carrier) {
      fail('DIGEST', `event #${index} was signed for ${event.fields.carrier}/${event.fields.trackingNumber}, not this shipment`, at);
    }
    const main = recovery[cursor++];
    if (!main.ok) fail('SIGNATURE', `event #${index}: ${main.reason}`, at);
    else if (main.signer !== event.signer.toLowerCase()) fail('SIGNATURE', `event #${index}: the signature recovers to ${main.signer}, not to the signer ${event.signer}`, at);
    if (event.counterSignature) {
      const counter = recovery[cursor++];
      if (!counter.ok) fail('COUNTER_SIGNATURE', `event #${index}: ${counter.reason}`, at);
      else if (counter.signer !== (event.counterSigner ?? '').toLowerCase()) fail('COUNTER_SIGNATURE', `event #${index}: the counter-signature recovers to ${counter.signer}, not to ${event.counterSigner}`, at);
    }
    const sigHash = signaturesHash(event.signature, event.counterSignature);
    if (sigHash !== event.signaturesHash.toLowerCase()) fail('SIGNATURES_HASH', `event #${index}: keccak256(signature ‖ counterSignature) is ${sigHash}, not ${event.signaturesHash}`, at);
    if (event.previousLeaf.toLowerCase() !== previous) {
      fail('CHAIN', index === 0 ? `event #0 must start the chain with previousLeaf zero, it has ${event.previousLeaf}: earlier events are missing` : `event #${index}: previousLeaf ${event.previousLeaf} is not the leaf of event #${index - 1} (${previous}): an event was dropped, inserted or reordered`, at);
    }
    const leaf = custodyLeaf(digest, sigHash, event.previousLeaf);
    if (leaf !== event.leaf.toLowerCase()) fail('LEAF', `event #${index}: the leaf recomputed from its values is ${leaf}, the bundle says ${event.leaf}`, at);
    previous = leaf;
    recomputed.push({ event, leaf });
    if (event.batchSeq === null || !event.proof) {
      pending.push(event.eventId);
      continue;
    }
    const batch = batchBySeq.get(event.batchSeq);
    if (!batch) {
      fail('MERKLE_PROOF', `event #${index} names batch ${event.batchSeq}, which the bundle does not contain`, at);
      continue;
    }
    const root = await rootFromProof(leaf, event.proof);
    if (root !== batch.root.toLowerCase()) fail('MERKLE_PROOF', `event #${index}: its proof leads to ${root}, not to the root ${batch.root} of batch ${batch.seq}`, at);
    if (!ANCHORED.has(batch.status)) pending.push(event.eventId);
  }
  if (bundle.events.length !== bundle.shipment.eventCount) fail('CHAIN', `the shipment has ${bundle.shipment.eventCount} events, the bundle carries ${bundle.events.length}`);
  if (previous !== bundle.shipment.headLeaf.toLowerCase()) fail('CHAIN', `the chain ends at ${previous}, but the shipment's head leaf is ${bundle.shipment.headLeaf}: the last events are missing`);

  // 2. the chain: right network, contract there, every anchored root on it
  const ownProvider = options.provider ? null : new JsonRpcProvider(options.rpcUrl, undefined, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 });
  const provider = options.provider ?? ownProvider!;
  let batchesChecked = 0;
  try {
    const rpcChainId = BigInt((await provider.getNetwork()).chainId);
    if (rpcChainId !== chainId) {
      fail('DOMAIN', `the bundle was signed for chain ${chainId}, but the RPC endpoint serves chain ${rpcChainId}`);
    } else if ((await provider.getCode(contractAddress)) === '0x') {
      fail('CONTRACT', `there is no contract at ${contractAddress} on chain ${chainId}`);
    } else {
      const contract = new Contract(contractAddress, CUSTODY_ANCHOR_ABI, provider);
      const used = new Set(bundle.events.map((e) => e.batchSeq).filter((s): s is string => s !== null));
      for (const batch of bundle.batches.filter((b) => used.has(b.seq))) {
        batchesChecked++;
        await checkBatch(contract, provider, batch, chainId, contractAddress, fail, pending, bundle.events);
      }
    }
  } finally {
    ownProvider?.destroy();
  }
  return report(bundle, { eventsChecked: recomputed.length, batchesChecked, pendingEventIds: [...new Set(pending)] });
}

async function checkBatch(
  contract: Contract,
  provider: Provider,
  batch: PodBatch,
  chainId: bigint,
  contractAddress: string,
  fail: (check: VerificationCheck, message: string, at?: { batchSeq?: string | null }) => void,
  pending: string[],
  events: PodEvent[],
): Promise<void> {
  const at = { batchSeq: batch.seq };
  if (batch.chainId !== null && BigInt(batch.chainId) !== chainId) fail('DOMAIN', `batch ${batch.seq} claims chain ${batch.chainId}, the signing domain says ${chainId}`, at);
  if (batch.contractAddress !== null && getAddress(batch.contractAddress) !== contractAddress) fail('DOMAIN', `batch ${batch.seq} claims contract ${batch.contractAddress}, the signing domain says ${contractAddress}`, at);
  const onChain = ((await contract.getFunction('batchRoot')(BigInt(batch.seq))) as string).toLowerCase();
  if (onChain === ZERO_HASH) {
    if (ANCHORED.has(batch.status)) fail('BATCH_ROOT', `batch ${batch.seq} is not on chain ${chainId} (batchRoot is zero), although the bundle says ${batch.status}`, at);
    else pending.push(...events.filter((e) => e.batchSeq === batch.seq).map((e) => e.eventId));
    return;
  }
  if (onChain !== batch.root.toLowerCase()) {
    fail('BATCH_ROOT', `batch ${batch.seq}: the contract holds root ${onChain}, the bundle says ${batch.root}`, at);
    return;
  }
  if (batch.txHash) {
    const receipt = await provider.getTransactionReceipt(batch.txHash);
    const logs = receipt?.logs.filter((l) => getAddress(l.address) === contractAddress).map((l) => contract.interface.parseLog(l)).filter((l) => l?.name === 'BatchAnchored') ?? [];
    const match = logs.find((l) => BigInt(l!.args.getValue('seq') as bigint) === BigInt(batch.seq) && (l!.args.getValue('root') as string).toLowerCase() === batch.root.toLowerCase());
    if (!receipt || !match) fail('ANCHOR_TX', `batch ${batch.seq}: transaction ${batch.txHash} has no BatchAnchored(${batch.seq}, ${batch.root}) log`, at);
    else if (batch.blockNumber !== null && receipt.blockNumber !== batch.blockNumber) fail('ANCHOR_TX', `batch ${batch.seq}: anchored in block ${receipt.blockNumber}, the bundle says ${batch.blockNumber}`, at);
  }
}

function digestOf(separator: string, event: PodEvent): string {
  try {
    const f = event.fields;
    const fields: CustodyEventFields = { ...f, occurredAt: BigInt(f.occurredAt) };
    return custodyEventDigest(separator, fields);
  } catch {
    return '0x';
  }
}

/** Shape checks before any hashing; each problem names the path. */
function formatProblems(input: unknown): string[] {
  const problems: string[] = [];
  const b = input as Partial<ProofBundle> | null;
  if (typeof b !== 'object' || b === null) return ['the bundle is not a JSON object'];
  if (b.format !== POD_FORMAT) problems.push(`format must be "${POD_FORMAT}" (got ${JSON.stringify(b.format)})`);
  const d = b.signing?.domain;
  if (!d || typeof d.chainId !== 'string' || !/^\d{1,78}$/.test(d.chainId) || typeof d.verifyingContract !== 'string' || !ADDRESS.test(d.verifyingContract)) problems.push('signing.domain needs chainId (decimal string) and verifyingContract (address)');
  if (!b.signing?.types || typeof b.signing.types !== 'object') problems.push('signing.types is missing');
  if (!b.shipment || typeof b.shipment.trackingNumber !== 'string' || typeof b.shipment.carrier !== 'string' || typeof b.shipment.headLeaf !== 'string' || !HEX32.test(b.shipment.headLeaf) || typeof b.shipment.eventCount !== 'number') {
    problems.push('shipment needs trackingNumber, carrier, eventCount and headLeaf');
  }
  if (!Array.isArray(b.events) || b.events.length === 0) problems.push('events must be a non-empty array');
  if (!Array.isArray(b.batches)) problems.push('batches must be an array');
  if (problems.length > 0) return problems;
  b.events!.forEach((e, i) => {
    const ok =
      e && typeof e === 'object' && e.fields && typeof e.fields === 'object' && HEX32.test(String(e.eventId)) && HEX32.test(String(e.digest)) && HEX32.test(String(e.signaturesHash)) &&
      HEX32.test(String(e.previousLeaf)) && HEX32.test(String(e.leaf)) && HEX65.test(String(e.signature)) && (e.counterSignature === null || HEX65.test(String(e.counterSignature))) &&
      ADDRESS.test(String(e.signer)) && /^\d{1,20}$/.test(String(e.fields.occurredAt)) && (e.batchSeq === null || /^\d{1,19}$/.test(String(e.batchSeq))) &&
      (e.proof === null || (Array.isArray(e.proof) && e.proof.every((p) => HEX32.test(String(p)))));
    if (!ok) problems.push(`events[${i}] is malformed (hashes must be 0x + 64 hex, signatures 65 bytes, occurredAt a decimal string)`);
  });
  b.batches!.forEach((batch, i) => {
    if (!batch || !/^\d{1,19}$/.test(String(batch.seq)) || !HEX32.test(String(batch.root))) problems.push(`batches[${i}] needs seq (decimal string) and root (0x + 64 hex)`);
  });
  return problems;
}
