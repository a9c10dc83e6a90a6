import { Contract, JsonRpcProvider, getAddress, keccak256, toUtf8Bytes, type Log, type Provider } from 'ethers';
import { CUSTODY_ANCHOR_ABI } from '../anchoring/custody-anchor';
import { LOG_RANGE, findLogNewestFirst } from '../anchoring/json-rpc';
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
import { canonicalJson } from '../custody/extra-data';
import { batchRootV2, delegationStateKey, delegationStateValue, shipmentStateKey, shipmentStateValue, signingKeyStateKey, signingKeyStateValue, verifyStateProof } from '../state/custody-state';
import { delegationDigest, delegationFromJson } from '../signing/delegation-signing';
import { CONSENT_KINDS, POD_FORMAT, POD_FORMAT_V2, POD_FORMAT_V3, type AnyProofBundle, type PodBatchV2, type PodEventV2, type PodEventV3, type PodKeyRecord, type ProofBundleV2, type ProofBundleV3 } from './pod-bundle';
import { anchorFor, parseTrustFile, type TrustFile } from './trust-root';
import { findContradiction, findDelegationContradiction } from './contradiction';
import { describeTransfer, replayTransfers, type ChainDelegation, type CustodyLink, type CustodyReport } from './custody-chain';

/**
 * Verifies `custody-pod/1`, `/2` and `/3` bundles with nothing but the bundle, a pinned trust
 * root and a JSON-RPC endpoint of the anchor chain: no NestJS, no database, no trust in the ledger.
 *
 * Every field of a bundle is either checked here or reported in `ledgerStatements`, with its
 * value, as something only the ledger says. The checks, in order (README, "Verification
 * algorithm", step by step):
 *   1. shape, signing spec and domain; the domain's chain and contract are a pinned trust root;
 *   2. per event: digest from the signed fields, signer and counter-signer recovered, dual
 *      attestation backed by a counter-signature, evidence metadata naming the signed hash, extra
 *      data hashing to the signed dataHash, corrections bound to the event they void by that extra
 *      data, signaturesHash, the previousLeaf chain from zero, the leaf, the Merkle proof;
 *   3. per batch, on the pinned contract: root, leaf count and time from `batch(seq)`, block and
 *      transaction from its BatchAnchored log; custody-tree/2 roots = sortedPair(eventsRoot, keccak256(0x02 ‖ eventsRoot ‖ stateRoot));
 *   4. (pod/2) the state proofs: the state's batch is anchored on the pinned contract; the shipment's
 *      head and count in it make the bundle's events ALL of its sealed events; every signer's key
 *      record in it names the organization the bundle names and covers the event's time; and no
 *      later state is on chain (else STALE);
 *   5. the custody chain (checkConsent): every transfer consented by the custodian releasing it;
 *      (pod/3) with the delegations the bundle carries, proven in the same state.
 * What it cannot establish, it says in `limitations`.
 */
export type VerificationCheck =
  | 'FORMAT'
  | 'DOMAIN'
  | 'TRUST_ROOT'
  | 'CONTRACT'
  | 'DIGEST'
  | 'SIGNATURE'
  | 'COUNTER_SIGNATURE'
  | 'DUAL_ATTESTATION'
  | 'SIGNATURES_HASH'
  | 'EVIDENCE'
  | 'EXTRA_DATA'
  | 'CORRECTION'
  | 'LEAF'
  | 'CHAIN'
  | 'MERKLE_PROOF'
  | 'BATCH_ROOT'
  | 'ANCHOR_TX'
  | 'ANCHOR_TIME'
  | 'STATE_ROOT'
  | 'STATE_CONTRADICTION'
  | 'COMPLETENESS'
  | 'KEY_OWNERSHIP'
  | 'CONSENT';

export const VERIFICATION_CHECKS: readonly VerificationCheck[] = [
  'FORMAT', 'DOMAIN', 'TRUST_ROOT', 'CONTRACT', 'DIGEST', 'SIGNATURE', 'COUNTER_SIGNATURE', 'DUAL_ATTESTATION', 'SIGNATURES_HASH', 'EVIDENCE', 'EXTRA_DATA',
  'CORRECTION', 'LEAF', 'CHAIN', 'MERKLE_PROOF', 'BATCH_ROOT', 'ANCHOR_TX', 'ANCHOR_TIME', 'STATE_ROOT', 'STATE_CONTRADICTION', 'COMPLETENESS', 'KEY_OWNERSHIP', 'CONSENT',
];

/**
 * VALID: every check passed, every event is anchored, nothing later is on chain (pod/2) and the root is pinned.
 * INVALID: a check failed. UNPINNED: nothing failed, but no trust root was given, so a forger's own
 * contract would pass too. STALE: the chain holds a later state than the bundle's proofs: ask the
 * ledger for a fresh bundle. INCOMPLETE: nothing failed, but not everything VALID means could be
 * proven: some events are not anchored yet, no state was anchored yet, the bundle is a
 * custody-pod/1 bundle (no state proofs: completeness and key ownership unprovable), or a transfer's
 * consent cannot be shown (a /1 or /2 bundle carries no delegations).
 */
export type Verdict = 'VALID' | 'INCOMPLETE' | 'STALE' | 'UNPINNED' | 'INVALID';

export interface VerificationFailure {
  check: VerificationCheck;
  eventId: string | null;
  eventIndex: number | null;
  batchSeq: string | null;
  message: string;
}

export interface LedgerStatement {
  /** the bundle's path, e.g. `shipment.status`, `events[3].flags` */
  field: string;
  value: unknown;
}

export interface BatchOnChain {
  seq: string;
  contract: string;
  blockNumber: number | null;
  txHash: string | null;
  anchoredAt: string | null;
  confirmations: number | null;
}

export interface VerificationReport {
  format: 'custody-pod-verification/2';
  verdict: Verdict;
  bundleFormat: string | null;
  trackingNumber: string | null;
  carrier: string | null;
  /** the chain and contract the bundle claims */
  chainId: string | null;
  contractAddress: string | null;
  /** whether a trust root was given; the contracts it pinned for this chain */
  pinned: boolean;
  trustedContracts: string[];
  eventsChecked: number;
  batchesChecked: number;
  pendingEventIds: string[];
  state: {
    /** the batch whose state the proofs were made against */
    provenAtSeq: string | null;
    /** the newest batch on the contract */
    latestSeq: string | null;
    completeness: 'PROVEN' | 'NOT_PROVEN';
    keyOwnership: 'PROVEN' | 'NOT_PROVEN';
  };
  /** what the chain says about each batch, read from the pinned contract */
  batches: BatchOnChain[];
  /** what this verdict does not establish */
  limitations: string[];
  /** fields the verifier cannot check: the ledger's word, with the values the bundle gives */
  ledgerStatements: LedgerStatement[];
  /** with `previous`: the call that proves on chain that the two states contradict each other */
  contradiction: { contract: string; method: string; calldata: string } | null;
  failures: VerificationFailure[];
  /** the custody chain replayed from the bundle: who held the parcel after each transfer, under which consent */
  custody: CustodyReport;
  checkedAt: string;
}

export interface VerifyOptions {
  /** JSON-RPC URL of the anchor chain */
  rpcUrl?: string;
  /** or a provider (tests, or callers with their own node) */
  provider?: Provider;
  /** the pinned trust root; without it the verdict is at best UNPINNED */
  trust?: TrustFile | null;
  /** an earlier bundle of the same shipment: its state must not be contradicted by this one's */
  previous?: unknown;
  /** at most this many blocks per eth_getLogs (public endpoints refuse wider ranges); default 5,000 */
  logRange?: number;
}

const HEX32_RE = /^0x[0-9a-fA-F]{64}$/;
const HEX65_RE = /^0x[0-9a-fA-F]{130}$/;
const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;
// tests on values of any type: a non-string never passes (String([x]) would)
const HEX32 = { test: (v: unknown): boolean => typeof v === 'string' && HEX32_RE.test(v) };
const HEX65 = { test: (v: unknown): boolean => typeof v === 'string' && HEX65_RE.test(v) };
const ADDRESS = { test: (v: unknown): boolean => typeof v === 'string' && ADDRESS_RE.test(v) };
const DECIMAL = (digits: number) => ({ test: (v: unknown): boolean => typeof v === 'string' && new RegExp(`^\\d{1,${digits}}$`).test(v) });
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const SIGNED_FIELDS = ['eventId', 'trackingNumber', 'carrier', 'eventType', 'custodian', 'occurredAt', 'latE6', 'lonE6', 'accuracyM', 'locationCode', 'scanMethod', 'evidenceHash', 'dataHash'];
const isInt = (v: unknown, min: number, max: number): boolean => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;
const ANCHORED = new Set(['ANCHORED', 'FINAL']);
const lower = (s: string | null | undefined): string => (s ?? '').toLowerCase();

type At = { eventId?: string | null; eventIndex?: number | null; batchSeq?: string | null };

export async function verifyProofBundle(input: unknown, options: VerifyOptions): Promise<VerificationReport> {
  try {
    return await verify(input, options);
  } catch (err) {
    // a value the shape checks let through and a hash function refused: the bundle is malformed, never a crash
    const report = await verify(null, { ...options, provider: undefined, rpcUrl: undefined }).catch(() => null);
    const base = report ?? ({} as VerificationReport);
    return {
      ...base,
      verdict: 'INVALID',
      failures: [{ check: 'FORMAT', eventId: null, eventIndex: null, batchSeq: null, message: `the bundle could not be checked: ${(err as Error).message.split(' (')[0]}` }],
    };
  }
}

async function verify(input: unknown, options: VerifyOptions): Promise<VerificationReport> {
  const failures: VerificationFailure[] = [];
  const fail = (check: VerificationCheck, message: string, at: At = {}): void => {
    failures.push({ check, eventId: at.eventId ?? null, eventIndex: at.eventIndex ?? null, batchSeq: at.batchSeq ?? null, message });
  };
  const statements: LedgerStatement[] = [];
  const state: VerificationReport['state'] = { provenAtSeq: null, latestSeq: null, completeness: 'NOT_PROVEN', keyOwnership: 'NOT_PROVEN' };
  const limitations: string[] = [];
  const onChain: BatchOnChain[] = [];
  let stale = false;
  let contradiction: VerificationReport['contradiction'] = null;
  let custody: CustodyReport = { chain: [], consented: false };
  let trust: TrustFile | null = null;
  try {
    trust = options.trust ? parseTrustFile(options.trust) : null;
  } catch (err) {
    fail('TRUST_ROOT', `the trust file is unusable: ${(err as Error).message}`);
  }
  const b0 = input as Partial<ProofBundleV2> | null;
  const report = (extra: Partial<VerificationReport> = {}): VerificationReport => {
    const pending = extra.pendingEventIds ?? [];
    // VALID means complete: a /1 bundle (no state proofs) is at best INCOMPLETE, so relabelling a /2 bundle as /1 gains nothing
    // and the custody chain: a transfer whose consent this bundle cannot show (a /1 or /2 bundle) keeps it from VALID
    const incomplete = pending.length > 0 || state.completeness !== 'PROVEN' || state.keyOwnership !== 'PROVEN' || !custody.consented;
    return {
      format: 'custody-pod-verification/2',
      verdict: failures.length > 0 ? 'INVALID' : !trust ? 'UNPINNED' : stale ? 'STALE' : incomplete ? 'INCOMPLETE' : 'VALID',
      bundleFormat: typeof b0?.format === 'string' ? b0.format : null,
      trackingNumber: typeof b0?.shipment?.trackingNumber === 'string' ? b0.shipment.trackingNumber : null,
      carrier: typeof b0?.shipment?.carrier === 'string' ? b0.shipment.carrier : null,
      chainId: typeof b0?.signing?.domain?.chainId === 'string' ? b0.signing.domain.chainId : null,
      contractAddress: typeof b0?.signing?.domain?.verifyingContract === 'string' ? b0.signing.domain.verifyingContract : null,
      pinned: trust !== null,
      trustedContracts: [],
      eventsChecked: 0,
      batchesChecked: 0,
      pendingEventIds: [],
      state,
      batches: onChain,
      limitations,
      ledgerStatements: statements,
      contradiction: null,
      failures,
      custody,
      checkedAt: new Date().toISOString(),
      ...extra,
    };
  };

  const problems = formatProblems(input);
  if (problems.length > 0) {
    for (const p of problems) fail('FORMAT', p);
    return report();
  }
  const bundle = input as AnyProofBundle;
  // /3 is /2 plus consent: every /2 check applies to it
  const v2 = bundle.format === POD_FORMAT_V2 || bundle.format === POD_FORMAT_V3;
  const events = bundle.events as PodEventV2[];
  const batches = bundle.batches as PodBatchV2[];
  const { domain } = bundle.signing;
  if (bundle.signing.version !== SIGNING_SPEC_VERSION || domain.name !== SIGNING_DOMAIN_NAME || domain.version !== SIGNING_DOMAIN_VERSION || bundle.signing.primaryType !== 'CustodyEvent') {
    fail('DOMAIN', `the bundle uses signing spec ${bundle.signing.version} / domain ${domain.name} ${domain.version}; this verifier checks ${SIGNING_SPEC_VERSION} (${SIGNING_DOMAIN_NAME} ${SIGNING_DOMAIN_VERSION})`);
  }
  if (JSON.stringify(bundle.signing.types.CustodyEvent) !== JSON.stringify(CUSTODY_EVENT_TYPES.CustodyEvent)) {
    fail('DOMAIN', 'the CustodyEvent type in the bundle differs from signing spec v1');
  }
  const chainId = BigInt(domain.chainId);
  const contractAddress = getAddress(domain.verifyingContract.toLowerCase());
  const separator = domainSeparator({ name: SIGNING_DOMAIN_NAME, version: SIGNING_DOMAIN_VERSION, chainId, verifyingContract: contractAddress });

  // 1. trust: the contract the devices signed for, and every batch's contract, must be pinned
  const trustedContracts = trust ? trust.anchors.filter((a) => BigInt(a.chainId) === chainId).map((a) => a.contract) : [];
  if (trust) {
    if (trustedContracts.length === 0) fail('TRUST_ROOT', `the bundle claims chain ${chainId}, on which no anchor is pinned (pinned: ${trust.anchors.map((a) => `chain ${a.chainId} ${a.contract}`).join(', ')})`);
    else if (!trustedContracts.includes(contractAddress)) fail('TRUST_ROOT', `the bundle claims contract ${contractAddress} on chain ${chainId}, which is not a pinned trust root (pinned: ${trustedContracts.join(', ')}): its anchors prove nothing`);
  } else {
    limitations.push(`no trust root was pinned: the bundle claims chain ${chainId} contract ${contractAddress}, and anyone can deploy a contract and anchor a forgery on it; pin the ledger's trust file (--trust) or --contract/--chain-id`);
  }
  const contractFor = (seq: string): string | null => {
    if (!trust) return contractAddress;
    return anchorFor(trust, chainId, BigInt(seq))?.contract ?? null;
  };

  // 2. every event: digest, signatures, evidence, extra data, corrections, leaf, chain, proof
  const batchBySeq = new Map(batches.map((b) => [b.seq, b]));
  const digests = events.map((e) => digestOf(separator, e));
  const recovery = recoverSigners(
    events.flatMap((e, i) => [{ digest: digests[i], signature: e.signature }, ...(e.counterSignature ? [{ digest: digests[i], signature: e.counterSignature }] : [])]),
  );
  const leaves: string[] = [];
  let cursor = 0;
  let previous = ZERO_HASH;
  const pending: string[] = [];
  const byId = new Map(events.map((e, i) => [lower(e.eventId), i]));
  if (byId.size !== events.length) fail('CHAIN', 'an eventId appears twice: an event id is unique forever, so one of them is a replay');
  for (const [index, event] of events.entries()) {
    const at = { eventId: event.eventId, eventIndex: index, batchSeq: event.batchSeq };
    const digest = digests[index];
    if (digest !== lower(event.digest)) fail('DIGEST', `event #${index}: the signed fields hash to ${digest}, the bundle says ${event.digest}: a signed field was changed`, at);
    if (lower(event.fields.eventId) !== lower(event.eventId)) fail('DIGEST', `event #${index}: fields.eventId differs from eventId`, at);
    if (event.fields.trackingNumber !== bundle.shipment.trackingNumber || event.fields.carrier !== bundle.shipment.carrier) {
      fail('DIGEST', `event #${index} was signed for ${event.fields.carrier}/${event.fields.trackingNumber}, not this shipment`, at);
    }
    const main = recovery[cursor++];
    if (!main.ok) fail('SIGNATURE', `event #${index}: ${main.reason}`, at);
    else if (main.signer !== lower(event.signer)) fail('SIGNATURE', `event #${index}: the signature recovers to ${main.signer}, not to the signer ${event.signer}`, at);
    if (event.counterSignature) {
      const counter = recovery[cursor++];
      if (!counter.ok) fail('COUNTER_SIGNATURE', `event #${index}: ${counter.reason}`, at);
      else if (counter.signer !== lower(event.counterSigner)) fail('COUNTER_SIGNATURE', `event #${index}: the counter-signature recovers to ${counter.signer}, not to ${event.counterSigner}`, at);
    } else if (event.counterSigner) fail('COUNTER_SIGNATURE', `event #${index} names counter-signer ${event.counterSigner} but carries no counter-signature`, at);
    if (!event.dualAttested && event.counterSignature) statements.push({ field: `events[${index}].dualAttested`, value: false });
    if (event.dualAttested) {
      if (!event.counterSignature) fail('DUAL_ATTESTATION', `event #${index} claims dual attestation but carries no counter-signature`, at);
      else if (v2 && lower(event.counterSignerOrganization) === lower(event.signerOrganization)) fail('DUAL_ATTESTATION', `event #${index} claims dual attestation, but both signatures are by "${event.signerOrganization}"`, at);
    }
    if (event.evidence) {
      if (lower(event.evidence.hash) !== lower(event.fields.evidenceHash) || lower(event.fields.evidenceHash) === ZERO_HASH) {
        fail('EVIDENCE', `event #${index}: the evidence metadata names hash ${event.evidence.hash}, but the signed evidenceHash is ${event.fields.evidenceHash}`, at);
      }
      statements.push({ field: `events[${index}].evidence.contentType`, value: event.evidence.contentType }, { field: `events[${index}].evidence.sizeBytes`, value: event.evidence.sizeBytes });
    }
    if (v2) checkExtraData(event, index, at, events, byId, fail, statements);
    else statements.push({ field: `events[${index}].signerOrganization`, value: event.signerOrganization }, { field: `events[${index}].correctsEventId`, value: event.correctsEventId }, { field: `events[${index}].correctedBy`, value: event.correctedBy });
    const sigHash = signaturesHash(event.signature, event.counterSignature);
    if (sigHash !== lower(event.signaturesHash)) fail('SIGNATURES_HASH', `event #${index}: keccak256(signature ‖ counterSignature) is ${sigHash}, not ${event.signaturesHash}`, at);
    if (lower(event.previousLeaf) !== previous) {
      fail('CHAIN', index === 0 ? `event #0 must start the chain with previousLeaf zero, it has ${event.previousLeaf}: earlier events are missing` : `event #${index}: previousLeaf ${event.previousLeaf} is not the leaf of event #${index - 1} (${previous}): an event was dropped, inserted or reordered`, at);
    }
    const leaf = custodyLeaf(digest, sigHash, event.previousLeaf);
    if (leaf !== lower(event.leaf)) fail('LEAF', `event #${index}: the leaf recomputed from its values is ${leaf}, the bundle says ${event.leaf}`, at);
    previous = leaf;
    leaves.push(leaf);
    statements.push(
      { field: `events[${index}].status`, value: event.status },
      { field: `events[${index}].flags`, value: event.flags },
      { field: `events[${index}].receivedAt`, value: event.receivedAt },
      { field: `events[${index}].leafIndex`, value: event.leafIndex },
    );
    if (event.batchSeq === null || !event.proof) {
      pending.push(event.eventId);
      continue;
    }
    const batch = batchBySeq.get(event.batchSeq);
    if (!batch) {
      fail('MERKLE_PROOF', `event #${index} names batch ${event.batchSeq}, which the bundle does not contain`, at);
      continue;
    }
    // custody-tree/2 proofs end with the state commitment: they fold to the anchored root, as /1 proofs do
    const root = await rootFromProof(leaf, event.proof);
    if (root !== lower(batch.root)) fail('MERKLE_PROOF', `event #${index}: its proof leads to ${root}, not to the root ${batch.root} of batch ${batch.seq}`, at);
  }
  if (events.length !== bundle.shipment.eventCount) fail('CHAIN', `the shipment has ${bundle.shipment.eventCount} events, the bundle carries ${events.length}`);
  if (previous !== lower(bundle.shipment.headLeaf)) fail('CHAIN', `the chain ends at ${previous}, but the shipment's head leaf is ${bundle.shipment.headLeaf}: the last events are missing`);
  statements.push(
    { field: 'generatedAt', value: bundle.generatedAt },
    { field: 'shipment.merchant', value: bundle.shipment.merchant },
    { field: 'shipment.destination', value: bundle.shipment.destination },
    { field: 'shipment.status', value: bundle.shipment.status },
    { field: 'findings', value: bundle.findings },
    ...batches.map((b, i) => ({ field: `batches[${i}].status`, value: b.status })),
  );

  // 3. the chain: right network, pinned contracts there, every anchored root on it
  const ownProvider = options.provider ? null : new JsonRpcProvider(options.rpcUrl, undefined, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 });
  const provider = options.provider ?? ownProvider!;
  let batchesChecked = 0;
  try {
    const rpcChainId = BigInt((await provider.getNetwork()).chainId);
    if (rpcChainId !== chainId) {
      fail('DOMAIN', `the bundle was signed for chain ${chainId}, but the RPC endpoint serves chain ${rpcChainId}`);
    } else {
      const head = await provider.getBlockNumber();
      const contracts = new Map<string, Contract | null>();
      const contractAt = async (address: string): Promise<Contract | null> => {
        if (!contracts.has(address)) {
          const code = await provider.getCode(address);
          if (code === '0x') fail('CONTRACT', `there is no contract at ${address} on chain ${chainId}`);
          contracts.set(address, code === '0x' ? null : new Contract(address, CUSTODY_ANCHOR_ABI, provider));
        }
        return contracts.get(address)!;
      };
      const deploymentBlock = (address: string): number => trust?.anchors.find((a) => a.contract === address && BigInt(a.chainId) === chainId)?.deploymentBlock ?? 0;
      const used = new Set(events.map((e) => e.batchSeq).filter((s): s is string => s !== null));
      if (v2 && (bundle as ProofBundleV2).state) used.add((bundle as ProofBundleV2).state!.seq);
      const anchored = new Set<string>();
      for (const batch of batches.filter((x) => used.has(x.seq))) {
        batchesChecked++;
        const address = contractFor(batch.seq);
        if (!address) {
          fail('TRUST_ROOT', `batch ${batch.seq} falls under no pinned anchor on chain ${chainId}`, { batchSeq: batch.seq });
          continue;
        }
        const contract = await contractAt(address);
        if (!contract) continue;
        if (await checkBatch(contract, address, chainId, batch, head, { fromBlock: deploymentBlock(address), range: options.logRange ?? LOG_RANGE }, fail, onChain)) anchored.add(batch.seq);
      }
      for (const e of events) if (e.batchSeq !== null && e.proof && !anchored.has(e.batchSeq)) pending.push(e.eventId);
      if (v2) {
        const result = await checkState(bundle as ProofBundleV2, leaves, contractFor, contractAt, fail, trust, chainId);
        Object.assign(state, result.state);
        stale = result.stale;
        limitations.push(...result.limitations);
        if (options.previous !== undefined) contradiction = await checkPrevious(bundle as ProofBundleV2, options.previous, contractFor, contractAt, fail);
      } else {
        limitations.push(
          'custody-pod/1 bundles carry no state proofs: nothing here proves that the bundle holds ALL of the shipment\'s events (a cut tail or a withheld correction is not detectable), nor that a signing key belonged to the organization named; the verdict is at best INCOMPLETE: ask the ledger for a custody-pod/2 bundle',
        );
      }
    }
  } finally {
    ownProvider?.destroy();
  }
  // 5. (all formats) the custody chain: every transfer consented by the custodian releasing it
  custody = checkConsent(bundle, separator, fail, limitations);
  limitations.push('what happened to the parcel beyond what was signed, and whether a signing device was in the right hands, no signature can prove');
  return report({ trustedContracts, eventsChecked: leaves.length, batchesChecked, pendingEventIds: [...new Set(pending)], contradiction });
}

/** Reads batch `seq` from the pinned contract and its log; true when it is anchored there. */
async function checkBatch(
  contract: Contract,
  address: string,
  chainId: bigint,
  batch: PodBatchV2,
  head: number,
  scan: { fromBlock: number; range: number },
  fail: (check: VerificationCheck, message: string, at?: At) => void,
  onChain: BatchOnChain[],
): Promise<boolean> {
  const { fromBlock } = scan;
  const at = { batchSeq: batch.seq };
  const claimsAnchored = ANCHORED.has(batch.status);
  if (batch.chainId !== null && BigInt(batch.chainId) !== chainId) fail('DOMAIN', `batch ${batch.seq} claims chain ${batch.chainId}, the signing domain says ${chainId}`, at);
  if (batch.contractAddress !== null && getAddress(batch.contractAddress.toLowerCase()) !== address) fail('TRUST_ROOT', `batch ${batch.seq} claims contract ${batch.contractAddress}, but the pinned anchor for it is ${address}`, at);
  // the root from storage; leaf count and block time from the contract's own BatchAnchored log (a version 2
  // contract stores only the root; version 1 logs the same values it stores)
  const root = (await contract.getFunction('batchRoot')(BigInt(batch.seq))) as string;
  if (lower(root) === ZERO_HASH) {
    if (claimsAnchored) fail('BATCH_ROOT', `batch ${batch.seq} is not on chain (the contract holds no root for it), although the bundle says ${batch.status}`, at);
    onChain.push({ seq: batch.seq, contract: address, blockNumber: null, txHash: null, anchoredAt: null, confirmations: null });
    return false;
  }
  if (lower(root) !== lower(batch.root)) {
    fail('BATCH_ROOT', `batch ${batch.seq}: the contract holds root ${root}, the bundle says ${batch.root}`, at);
    return false;
  }
  if (batch.treeVersion === 2) {
    if (!batch.stateRoot || !HEX32.test(batch.stateRoot) || !HEX32.test(batch.eventsRoot)) fail('BATCH_ROOT', `batch ${batch.seq} is custody-tree/2 but lacks eventsRoot or stateRoot`, at);
    else if (batchRootV2(batch.eventsRoot, batch.stateRoot) !== lower(batch.root)) fail('BATCH_ROOT', `batch ${batch.seq}: its events root and state root give custody-tree/2 root ${batchRootV2(batch.eventsRoot, batch.stateRoot)}, not its root ${batch.root}`, at);
  } else if (batch.eventsRoot !== undefined && lower(batch.eventsRoot) !== lower(batch.root)) {
    fail('BATCH_ROOT', `batch ${batch.seq} is custody-tree/1, whose events root is its root; the bundle says ${batch.eventsRoot}`, at);
  }
  // block and transaction from the contract's own log, never from the bundle
  const log = await findAnchorLog(contract, batch, head, scan);
  if (!log) {
    onChain.push({ seq: batch.seq, contract: address, blockNumber: null, txHash: null, anchoredAt: null, confirmations: null });
    fail('ANCHOR_TX', `batch ${batch.seq}: the contract holds its root but no BatchAnchored(${batch.seq}, ${batch.root}) log was found from block ${fromBlock}`, at);
    return true;
  }
  const logged = contract.interface.parseLog(log)!.args;
  const leafCount = Number(logged.getValue('leafCount') as bigint);
  const time = new Date(Number(logged.getValue('timestamp') as bigint) * 1000).toISOString();
  onChain.push({ seq: batch.seq, contract: address, blockNumber: log.blockNumber, txHash: log.transactionHash, anchoredAt: time, confirmations: head - log.blockNumber + 1 });
  if (leafCount !== batch.leafCount) fail('BATCH_ROOT', `batch ${batch.seq}: the contract logged ${leafCount} leaves when anchoring it, the bundle says ${batch.leafCount}`, at);
  // every fact the bundle states is compared, whatever its status says; an anchored batch must state them all
  if (batch.txHash !== null || claimsAnchored) {
    if (lower(batch.txHash) !== lower(log.transactionHash)) fail('ANCHOR_TX', `batch ${batch.seq}: anchored by transaction ${log.transactionHash}, the bundle says ${batch.txHash ?? 'none'}`, at);
  }
  if (batch.blockNumber !== null || claimsAnchored) {
    if (batch.blockNumber !== log.blockNumber) fail('ANCHOR_TX', `batch ${batch.seq}: anchored in block ${log.blockNumber}, the bundle says ${batch.blockNumber ?? 'none'}`, at);
  }
  if (batch.anchoredAt !== null || claimsAnchored) {
    if (batch.anchoredAt === null || Date.parse(batch.anchoredAt) !== Date.parse(time)) fail('ANCHOR_TIME', `batch ${batch.seq}: anchored at ${time} (block time), the bundle says ${batch.anchoredAt ?? 'none'}`, at);
  }
  return true;
}

/**
 * The pinned contract's BatchAnchored(seq, root) log: first in the block the bundle names (one
 * request, and a log found there is the contract's own whatever the bundle says), else scanned
 * for from the deployment block up, newest first, `scan.range` blocks per eth_getLogs.
 */
async function findAnchorLog(contract: Contract, batch: PodBatchV2, head: number, scan: { fromBlock: number; range: number }): Promise<Log | undefined> {
  const query = { address: contract.target as string, topics: await contract.filters.BatchAnchored(BigInt(batch.seq)).getTopicFilter() };
  const provider = contract.runner!.provider!;
  const pick = (logs: Log[]): Log | undefined => logs.find((l) => lower(contract.interface.parseLog(l)?.args.getValue('root') as string | undefined) === lower(batch.root));
  const named = batch.blockNumber;
  if (named !== null && Number.isSafeInteger(named) && named >= scan.fromBlock && named <= head) {
    const found = await findLogNewestFirst(provider, query, named, named, 1, pick, '--log-range');
    if (found) return found;
  }
  return findLogNewestFirst(provider, query, scan.fromBlock, head, scan.range, pick, '--log-range');
}

/** Extra data hashes to dataHash; corrections name, by that signed document, the event they void. */
function checkExtraData(
  event: PodEventV2,
  index: number,
  at: At,
  events: PodEventV2[],
  byId: Map<string, number>,
  fail: (check: VerificationCheck, message: string, at?: At) => void,
  statements: LedgerStatement[],
): void {
  let corrects: string | null = null;
  if (event.extraData !== null) {
    if (keccak256(toUtf8Bytes(event.extraData)) !== lower(event.fields.dataHash)) {
      fail('EXTRA_DATA', `event #${index}: keccak256(extraData) is ${keccak256(toUtf8Bytes(event.extraData))}, not the signed dataHash ${event.fields.dataHash}`, at);
      return;
    }
    try {
      const doc = JSON.parse(event.extraData) as { corrects?: unknown };
      // read exactly the document the ledger read: canonical JSON has no duplicate keys to disagree on
      if (canonicalJson(doc) !== event.extraData) throw new Error('not canonical');
      corrects = typeof doc.corrects === 'string' ? lower(doc.corrects) : null;
    } catch {
      fail('EXTRA_DATA', `event #${index}: extraData is not canonical JSON (keys sorted, no whitespace, no duplicates)`, at);
    }
  } else if (lower(event.fields.dataHash) !== ZERO_HASH) {
    statements.push({ field: `events[${index}].extraData`, value: 'not carried: dataHash commits to a document the bundle does not include' });
  }
  if (event.fields.eventType === 'CORRECTION') {
    if (event.extraData === null) fail('CORRECTION', `event #${index} is a CORRECTION without the extra data that names the event it voids`, at);
    else if (corrects !== lower(event.correctsEventId)) fail('CORRECTION', `event #${index}: the signed extra data corrects ${corrects ?? 'nothing'}, the bundle says ${event.correctsEventId}`, at);
    else {
      const target = byId.get(corrects);
      if (target === undefined) fail('CORRECTION', `event #${index} corrects ${corrects}, which is not in the bundle`, at);
      else if (target >= index) fail('CORRECTION', `event #${index} corrects event #${target}, which comes after it`, at);
    }
  } else if (event.correctsEventId !== null) {
    fail('CORRECTION', `event #${index} is a ${event.fields.eventType}, yet the bundle says it corrects ${event.correctsEventId}`, at);
  }
  // correctedBy must be exactly the corrections in the bundle that name this event
  const by = events.find((e) => e.fields.eventType === 'CORRECTION' && lower(e.correctsEventId) === lower(event.eventId));
  if (lower(event.correctedBy) !== lower(by?.eventId ?? null)) {
    fail('CORRECTION', `event #${index}: the bundle says it is corrected by ${event.correctedBy ?? 'nothing'}, its corrections say ${by?.eventId ?? 'nothing'}`, at);
  }
}

/**
 * An earlier bundle of the same shipment (`custody verify --previous`): if the two states contradict
 * each other, the pinned contract itself confirms it (an eth_call of the proof) and the report
 * carries the transaction anyone can send to record it for every verifier.
 */
async function checkPrevious(
  bundle: ProofBundleV2,
  previous: unknown,
  contractFor: (seq: string) => string | null,
  contractAt: (address: string) => Promise<Contract | null>,
  fail: (check: VerificationCheck, message: string, at?: At) => void,
): Promise<VerificationReport['contradiction']> {
  const previousFormat = (previous as { format?: unknown } | null)?.format;
  if (formatProblems(previous).length > 0 || (previousFormat !== POD_FORMAT_V2 && previousFormat !== POD_FORMAT_V3)) {
    fail('FORMAT', 'the previous bundle is not a well-formed custody-pod/2 or /3 bundle');
    return null;
  }
  const found = findContradiction(previous as ProofBundleV2, bundle);
  if (!found) {
    if (previousFormat === POD_FORMAT_V3 && (bundle as { format: string }).format === POD_FORMAT_V3) await checkDelegationHistory(previous as ProofBundleV3, bundle as unknown as ProofBundleV3, contractFor, contractAt, fail);
    return null;
  }
  const address = contractFor(found.laterSeq);
  const contract = address ? await contractAt(address) : null;
  if (!contract || !address) return null;
  // the contract checks both records against both anchored states: only a real contradiction passes
  const confirmed = await contract.runner!.call!({ to: address, data: found.calldata }).then(() => true, () => false);
  if (!confirmed) return null;
  fail('STATE_CONTRADICTION', `${found.message}; record it for every verifier by sending the report's contradiction.calldata to ${address} (${found.method}) from any account`, { batchSeq: found.laterSeq });
  return { contract: address, method: found.method, calldata: found.calldata };
}

/** (/3 with a previous /3) delegation records only change as an honest ledger changes them; both states must be anchored on the pinned contract. */
async function checkDelegationHistory(
  previous: ProofBundleV3,
  bundle: ProofBundleV3,
  contractFor: (seq: string) => string | null,
  contractAt: (address: string) => Promise<Contract | null>,
  fail: (check: VerificationCheck, message: string, at?: At) => void,
): Promise<void> {
  const found = findDelegationContradiction(previous, bundle);
  if (!found) return;
  for (const s of [previous.state!, bundle.state!]) {
    const address = contractFor(s.seq);
    const contract = address ? await contractAt(address) : null;
    const onChain = contract ? lower((await contract.getFunction('batchRoot')(BigInt(s.seq))) as string) : ZERO_HASH;
    if (onChain === ZERO_HASH || onChain !== batchRootV2(s.eventsRoot, s.stateRoot)) return; // a state that is not anchored accuses nobody
  }
  fail('STATE_CONTRADICTION', `${found.message}. Both states are anchored on the pinned contract; it has no method to record a delegation contradiction on chain, so keep both bundles: together they prove it`, { batchSeq: found.laterSeq });
}

/** pod/2: the state proofs against the pinned chain. */
async function checkState(
  bundle: ProofBundleV2,
  leaves: string[],
  contractFor: (seq: string) => string | null,
  contractAt: (address: string) => Promise<Contract | null>,
  fail: (check: VerificationCheck, message: string, at?: At) => void,
  trust: TrustFile | null,
  chainId: bigint,
): Promise<{ state: Partial<VerificationReport['state']>; stale: boolean; limitations: string[] }> {
  const s = bundle.state;
  const limitations: string[] = [];
  // the newest seq on any pinned contract of this chain
  let latest: bigint | null = null;
  const addresses = trust ? trust.anchors.filter((a) => BigInt(a.chainId) === chainId).map((a) => a.contract) : [contractFor('0')!];
  for (const address of new Set(addresses)) {
    const c = await contractAt(address);
    if (!c) continue;
    const next = (await c.getFunction('nextSeq')()) as bigint;
    if (next > 0n && (latest === null || next - 1n > latest)) latest = next - 1n;
    // someone proved on chain that the anchoring party contradicted its own earlier state
    const contradicted = await c.getFunction('contradictedAt')().then((v: bigint) => v, () => null);
    if (contradicted === null) limitations.push(`the contract at ${address} predates contradiction proofs: a state rewritten by its operator would not be flagged`);
    else if (contradicted > 0n) {
      fail('STATE_CONTRADICTION', `the anchoring party of ${address} anchored a state (batch ${contradicted - 1n}) that contradicts an earlier one, as proven on chain: its states prove neither completeness nor key ownership`);
    }
  }
  const latestSeq = latest === null ? null : latest.toString();
  if (!s) {
    limitations.push('no anchored state was available when the bundle was made: completeness and key ownership are not proven');
    return { state: { latestSeq }, stale: false, limitations };
  }
  const at = { batchSeq: s.seq };
  const result: Partial<VerificationReport['state']> = { provenAtSeq: s.seq, latestSeq };
  const address = contractFor(s.seq);
  const contract = address ? await contractAt(address) : null;
  if (!contract) {
    fail('STATE_ROOT', `the state's batch ${s.seq} is on no pinned contract`, at);
    return { state: result, stale: false, limitations };
  }
  const onChain = lower((await contract.getFunction('batchRoot')(BigInt(s.seq))) as string);
  if (onChain === ZERO_HASH || onChain !== lower(s.root) || batchRootV2(s.eventsRoot, s.stateRoot) !== onChain) {
    fail('STATE_ROOT', `the state proofs are against state root ${s.stateRoot} of batch ${s.seq}, but that batch's root on chain (${onChain}) is not the custody-tree/2 root of events root ${s.eventsRoot} and that state root`, at);
    return { state: result, stale: false, limitations };
  }
  const stale = latest !== null && latest > BigInt(s.seq);
  if (stale) limitations.push(`the chain holds state ${latestSeq}, newer than state ${s.seq} these proofs were made against: ask the ledger for a fresh bundle`);

  // completeness: the head of the shipment's sealed events in the anchored state is in the bundle, with everything before it
  const head = s.shipment;
  const key = shipmentStateKey(bundle.shipment.carrier, bundle.shipment.trackingNumber);
  let complete = true;
  const incomplete = (message: string, eventIndex: number | null = null): void => {
    complete = false;
    fail('COMPLETENESS', message, { ...at, eventIndex });
  };
  if (!Number.isSafeInteger(head.eventCount) || head.eventCount < 1 || !HEX32.test(head.headLeaf) || !Array.isArray(head.proof)) incomplete('state.shipment needs headLeaf, a positive eventCount and a proof');
  else if (!verifyStateProof(s.stateRoot, key, shipmentStateValue(head.headLeaf, head.eventCount), head.proof)) {
    incomplete(`the state of batch ${s.seq} does not hold head ${head.headLeaf} with ${head.eventCount} events for ${bundle.shipment.carrier}/${bundle.shipment.trackingNumber} (the proof does not verify)`);
  } else if (leaves.length < head.eventCount) {
    incomplete(`the anchored state says the shipment had ${head.eventCount} sealed events at batch ${s.seq}; the bundle carries ${leaves.length}: events were withheld`);
  } else if (leaves[head.eventCount - 1] !== lower(head.headLeaf)) {
    incomplete(`the anchored state says event #${head.eventCount - 1} has leaf ${head.headLeaf}; in the bundle it is ${leaves[head.eventCount - 1]}`, head.eventCount - 1);
  } else {
    bundle.events.forEach((e, i) => {
      const sealedBefore = e.batchSeq !== null && BigInt(e.batchSeq) <= BigInt(s.seq);
      if (i < head.eventCount && !sealedBefore) incomplete(`event #${i} is within the anchored head but the bundle places it in ${e.batchSeq === null ? 'no batch' : `batch ${e.batchSeq}`}, after state ${s.seq}`, i);
      if (i >= head.eventCount && sealedBefore) incomplete(`event #${i} is beyond the anchored head but the bundle places it in batch ${e.batchSeq}, within state ${s.seq}`, i);
    });
  }
  if (complete) result.completeness = 'PROVEN';

  // key ownership: every signer of an event within the state has a proven record naming its organization
  const records = new Map((Array.isArray(s.signingKeys) ? s.signingKeys : []).map((r) => [lower(r.address), r]));
  let owned = true;
  const checkKey = (index: number, address: string, organization: string | null, occurredAt: bigint, role: string): void => {
    const e = bundle.events[index];
    const bad = (message: string): void => {
      owned = false;
      fail('KEY_OWNERSHIP', `event #${index}: ${role} key ${address}: ${message}`, { eventId: e.eventId, eventIndex: index, batchSeq: s.seq });
    };
    const r = records.get(lower(address));
    if (!r) return bad(`the bundle carries no record of it in the state of batch ${s.seq}`);
    let valid = false;
    try {
      valid = verifyStateProof(s.stateRoot, signingKeyStateKey(address), signingKeyStateValue(r.organization, r.validFromMs, r.revokedAtMs), r.proof);
    } catch {
      valid = false;
    }
    if (!valid) return bad(`its record (${r.organization}, valid from ${r.validFromMs}${r.revokedAtMs ? `, revoked at ${r.revokedAtMs}` : ''}) is not in the state of batch ${s.seq}`);
    if (r.organization !== organization) return bad(`the anchored key registry gives it to "${r.organization}", the bundle says "${organization}"`);
    if (occurredAt < BigInt(r.validFromMs)) return bad(`it is valid only from ${r.validFromMs}, after the event occurred (${occurredAt})`);
    if (r.revokedAtMs !== null && occurredAt >= BigInt(r.revokedAtMs)) return bad(`it was revoked at ${r.revokedAtMs}, before the event occurred (${occurredAt})`);
  };
  bundle.events.forEach((e, i) => {
    if (e.batchSeq === null || BigInt(e.batchSeq) > BigInt(s.seq) || !/^\d{1,20}$/.test(e.fields.occurredAt)) return;
    const when = BigInt(e.fields.occurredAt);
    checkKey(i, e.signer, e.signerOrganization, when, 'signing');
    if (e.counterSigner) checkKey(i, e.counterSigner, e.counterSignerOrganization, when, 'counter-signing');
  });
  if (owned && complete) result.keyOwnership = 'PROVEN';
  return { state: result, stale, limitations };
}

/**
 * The custody chain, replayed from the bundle alone (custody-chain.ts, with the custody rules'
 * own functions): each uncorrected transfer needs the consent of the custodian releasing it:
 * its signature or counter-signature (organizations as the key records prove them), the
 * shipment's own carrier picking it up, or a delegation of the carrier or of the releasing
 * custodian to the receiver that the bundle carries and the anchored state proves (/3 only).
 * /3: a transfer without consent, or a consent the ledger states that the evidence does not
 * show, is a CONSENT failure. /1 and /2 carry no consent data: a transfer the signatures alone do
 * not consent is reported as a limitation (accepted under the rules of its time), and keeps the
 * verdict from VALID. A keep event naming another custodian than the one holding the parcel
 * moved custody without any transfer: a CONSENT failure in /3, a limitation in /1 and /2.
 */
function checkConsent(
  bundle: AnyProofBundle,
  separator: string,
  fail: (check: VerificationCheck, message: string, at?: At) => void,
  limitations: string[],
): CustodyReport {
  const v3 = bundle.format === POD_FORMAT_V3;
  const s = bundle.format === POD_FORMAT ? null : (bundle as ProofBundleV2).state;
  const events = bundle.events as PodEventV3[];
  const within = (e: PodEventV2): boolean => s !== null && e.batchSeq !== null && BigInt(e.batchSeq) <= BigInt(s.seq);
  const keys = new Map((s?.signingKeys ?? []).map((r) => [lower(r.address), r]));
  const keyProven = (r: PodKeyRecord | undefined): boolean => !!r && !!s && verifyStateProof(s.stateRoot, signingKeyStateKey(r.address), signingKeyStateValue(r.organization, r.validFromMs, r.revokedAtMs), r.proof);

  // the delegations: signed over exactly these fields by a key of the delegator, anchored with their revocation
  const delegations: ChainDelegation[] = [];
  const unproven = new Map<string, string>();
  for (const [j, d] of (v3 ? (bundle as ProofBundleV3).delegations : []).entries()) {
    const id = lower(d.fields.delegationId);
    const bad = (message: string): void => fail('CONSENT', `delegations[${j}] (${id}): ${message}`);
    const fields = delegationFromJson(d.fields);
    const digest = delegationDigest(separator, { ...fields, delegationId: id });
    if (digest !== lower(d.digest)) {
      bad(`its signed fields hash to ${digest}, the bundle says ${d.digest}: a field was changed`);
      continue;
    }
    const [recovered] = recoverSigners([{ digest, signature: d.signature }]);
    if (!recovered.ok) {
      bad(recovered.reason);
      continue;
    }
    if (recovered.signer !== lower(d.signer)) {
      bad(`the signature recovers to ${recovered.signer}, not to the signer ${d.signer}`);
      continue;
    }
    if (d.signerOrganization !== d.fields.delegator) {
      bad(`it is signed by a key of "${d.signerOrganization}", not of the delegator "${d.fields.delegator}"`);
      continue;
    }
    const record = keys.get(lower(d.signer));
    const why: string[] = [];
    if (!s) why.push('no anchored state was available when the bundle was made');
    else if (!record) why.push(`the bundle carries no record of its signer ${d.signer} in the state of batch ${s.seq}`);
    else if (!keyProven(record)) {
      bad(`the record of its signer ${d.signer} is not in the state of batch ${s.seq}`);
      continue;
    } else if (record.organization !== d.fields.delegator) {
      bad(`the anchored key registry gives its signer ${d.signer} to "${record.organization}", not to the delegator "${d.fields.delegator}"`);
      continue;
    }
    if (s && !d.state) why.push(`it is not in the state of batch ${s.seq}`);
    else if (s && d.state) {
      const key = delegationStateKey(id);
      if (lower(d.state.key) !== key || !verifyStateProof(s.stateRoot, key, delegationStateValue(digest, d.state.revokedAtMs), d.state.proof)) {
        bad(`its record (${d.state.revokedAtMs === null ? 'not revoked' : `revoked at ${d.state.revokedAtMs}`}) is not in the state of batch ${s.seq}`);
        continue;
      }
    }
    if (why.length > 0) unproven.set(id, why.join('; '));
    const proven = why.length === 0;
    delegations.push({
      delegationId: id,
      delegatorId: d.fields.delegator,
      delegate: d.fields.delegate,
      carrier: d.fields.carrier,
      trackingNumber: d.fields.trackingNumber,
      validFrom: fields.validFrom,
      validUntil: fields.validUntil,
      revokedAt: proven && d.state!.revokedAtMs !== null ? BigInt(d.state!.revokedAtMs) : null,
      keyValidFrom: proven ? BigInt(record!.validFromMs) : 0n,
      keyRevokedAt: proven && record!.revokedAtMs !== null ? BigInt(record!.revokedAtMs) : null,
      proven,
    });
  }
  const carried = new Set(v3 ? (bundle as ProofBundleV3).delegations.map((d) => lower(d.fields.delegationId)) : []);

  const findings = replayTransfers(
    events.map((e) => ({
      eventId: e.eventId,
      eventType: e.fields.eventType,
      custodian: e.fields.custodian,
      occurredAt: BigInt(e.fields.occurredAt),
      signerOrganization: e.signerOrganization,
      counterSignerOrganization: e.counterSignerOrganization ?? null,
      correctsEventId: e.correctsEventId,
    })),
    { carrier: bundle.shipment.carrier, merchant: bundle.shipment.merchant, trackingNumber: bundle.shipment.trackingNumber },
    delegations,
    (i) => (v3 && events[i].consent?.delegationId ? lower(events[i].consent!.delegationId) : null),
  );
  const chain: CustodyLink[] = [];
  const judged = new Set<number>();
  for (const f of findings) {
    const e = events[f.eventIndex];
    judged.add(f.eventIndex);
    const at = { eventId: e.eventId, eventIndex: f.eventIndex, batchSeq: e.batchSeq };
    const link: CustodyLink = {
      eventIndex: f.eventIndex,
      eventId: e.eventId,
      eventType: e.fields.eventType,
      occurredAt: e.fields.occurredAt,
      from: f.from,
      to: e.fields.custodian,
      signer: e.signerOrganization,
      counterSigner: e.counterSignerOrganization ?? null,
      consent: f.consent?.kind ?? null,
      delegationId: f.consent?.delegationId ?? null,
      status: 'CONSENTED',
      problem: null,
    };
    chain.push(link);
    const what = describeTransfer(link);
    const stated = v3 ? e.consent : null;
    const notConsented = (message: string): void => {
      link.status = 'NOT_CONSENTED';
      link.problem = message;
      fail('CONSENT', `event #${f.eventIndex}: ${message}`, at);
    };
    if (f.keepMismatch) {
      const message = `the ${e.fields.eventType} of ${new Date(Number(e.fields.occurredAt)).toISOString()} ${f.problem}`;
      if (v3) notConsented(message);
      else {
        link.status = 'UNPROVEN';
        link.problem = message;
        limitations.push(`event #${f.eventIndex}: ${message}; judged leniently in a ${bundle.format} bundle (it may predate the custody rules), the custody chain is not proven`);
      }
      continue;
    }
    if (!f.consent) {
      const missing = stated?.delegationId && !carried.has(lower(stated.delegationId)) ? `; the bundle says it relies on delegation ${stated.delegationId}, which it does not carry` : '';
      const message = `${what}, without the consent of the releasing custodian "${f.from ?? 'nobody'}": no signature or counter-signature of it, and no delegation${v3 ? ' in the bundle' : ''} covers it${f.problem ? ` (${f.problem})` : ''}${missing}`;
      if (v3) notConsented(message);
      else {
        link.status = 'UNPROVEN';
        link.problem = message;
        limitations.push(`event #${f.eventIndex} (${what}): ${bundle.format} bundles carry no delegations, so no consent of the releasing custodian "${f.from ?? 'nobody'}" can be shown; it was accepted under the rules of its time, and the custody chain is not proven (ask the ledger for a custody-pod/3 bundle)`);
      }
      continue;
    }
    if (stated && (stated.kind !== f.consent.kind || lower(stated.delegationId) !== lower(f.consent.delegationId))) {
      notConsented(`${what}: the bundle says consent ${stated.kind}${stated.delegationId ? ` (delegation ${stated.delegationId})` : ''}, the signatures and delegations show ${f.consent.kind}${f.consent.delegationId ? ` (delegation ${f.consent.delegationId})` : ''}`);
      continue;
    }
    if (f.delegation && !f.delegation.proven) {
      const why = unproven.get(f.delegation.delegationId)!;
      if (within(e)) notConsented(`${what} under delegation ${f.delegation.delegationId}, which the anchored state does not prove although the transfer is within it: ${why}`);
      else {
        link.status = 'UNPROVEN';
        link.problem = why;
        limitations.push(`event #${f.eventIndex} relies on delegation ${f.delegation.delegationId}, whose signature checks out but which is not proven yet (${why}); a bundle made after the next anchored state proves it or not`);
      }
    }
  }
  // (/3) only transfers carry a consent
  if (v3) {
    events.forEach((e, i) => {
      if (e.consent !== null && !judged.has(i) && !e.correctedBy) fail('CONSENT', `event #${i}: the bundle states consent ${e.consent.kind} for a ${e.fields.eventType}, which transfers no custody`, { eventId: e.eventId, eventIndex: i, batchSeq: e.batchSeq });
    });
  }
  return { chain, consented: chain.every((l) => l.status === 'CONSENTED') };
}

function digestOf(separator: string, event: PodEventV2): string {
  try {
    const f = event.fields;
    const fields: CustodyEventFields = { ...f, occurredAt: BigInt(f.occurredAt) };
    return custodyEventDigest(separator, fields);
  } catch {
    return '0x';
  }
}

/** Shape checks before any hashing; each problem names the path. Every value is type-checked, so nothing later can throw. */
function formatProblems(input: unknown): string[] {
  const problems: string[] = [];
  const b = input as Partial<ProofBundleV2> | null;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) return ['the bundle is not a JSON object'];
  const format = (b as { format?: unknown }).format;
  if (format !== POD_FORMAT && format !== POD_FORMAT_V2 && format !== POD_FORMAT_V3) problems.push(`format must be "${POD_FORMAT_V3}", "${POD_FORMAT_V2}" or "${POD_FORMAT}" (got ${JSON.stringify(format)})`);
  const v3 = format === POD_FORMAT_V3;
  const v2 = format === POD_FORMAT_V2 || v3;
  const d = b.signing?.domain;
  if (!d || !DECIMAL(77).test(d.chainId) || BigInt(d.chainId) >= 1n << 256n || !ADDRESS.test(d.verifyingContract) || typeof d.name !== 'string' || typeof d.version !== 'string') problems.push('signing.domain needs name, version, chainId (decimal string) and verifyingContract (address)');
  if (!b.signing?.types || typeof b.signing.types !== 'object' || typeof b.signing.version !== 'string') problems.push('signing needs version and types');
  const sh = b.shipment;
  if (!sh || typeof sh.trackingNumber !== 'string' || typeof sh.carrier !== 'string' || !HEX32.test(sh.headLeaf) || !isInt(sh.eventCount, 0, 2 ** 31)) {
    problems.push('shipment needs trackingNumber, carrier, eventCount and headLeaf');
  }
  if (!Array.isArray(b.events) || b.events.length === 0) problems.push('events must be a non-empty array');
  if (!Array.isArray(b.batches)) problems.push('batches must be an array');
  if (v2 && b.state !== null && !stateShapeOk(b.state)) problems.push('state must be null or { seq, root, eventsRoot, stateRoot, shipment { key headLeaf eventCount proof }, signingKeys [{ address organization validFromMs revokedAtMs key proof }] }');
  const delegations = (b as Partial<ProofBundleV3>).delegations;
  if (v3 && (!Array.isArray(delegations) || delegations.length > 1000)) problems.push('delegations must be an array (at most 1000)');
  if (problems.length > 0) return problems;
  b.events!.forEach((e, i) => {
    const f = (e && typeof e === 'object' ? e.fields : null) as Record<string, unknown> | null;
    const fieldsOk =
      !!f && typeof f === 'object' && Object.keys(f).length === SIGNED_FIELDS.length && SIGNED_FIELDS.every((k) => k in f) &&
      HEX32.test(f.eventId) && HEX32.test(f.evidenceHash) && HEX32.test(f.dataHash) && DECIMAL(20).test(f.occurredAt) && BigInt(f.occurredAt as string) < 1n << 64n &&
      isInt(f.latE6, -(2 ** 31), 2 ** 31 - 1) && isInt(f.lonE6, -(2 ** 31), 2 ** 31 - 1) && isInt(f.accuracyM, 0, 2 ** 32 - 1) &&
      ['trackingNumber', 'carrier', 'eventType', 'custodian', 'locationCode', 'scanMethod'].every((k) => typeof f[k] === 'string' && !/\p{Cs}/u.test(f[k] as string));
    const ok =
      fieldsOk && HEX32.test(e.eventId) && HEX32.test(e.digest) && HEX32.test(e.signaturesHash) && HEX32.test(e.previousLeaf) && HEX32.test(e.leaf) &&
      HEX65.test(e.signature) && (e.counterSignature === null || HEX65.test(e.counterSignature)) && ADDRESS.test(e.signer) && (e.counterSigner === null || ADDRESS.test(e.counterSigner)) &&
      typeof e.signerOrganization === 'string' && typeof e.status === 'string' && (e.batchSeq === null || DECIMAL(19).test(e.batchSeq)) &&
      (e.proof === null || (Array.isArray(e.proof) && e.proof.length <= 64 && e.proof.every((p) => HEX32.test(p)))) &&
      typeof e.dualAttested === 'boolean' && Array.isArray(e.flags) && (e.evidence === null || (typeof e.evidence === 'object' && HEX32.test(e.evidence.hash))) &&
      (e.correctsEventId === null || HEX32.test(e.correctsEventId)) && (e.correctedBy === null || HEX32.test(e.correctedBy)) &&
      (!v2 || ((e.extraData === null || (typeof e.extraData === 'string' && e.extraData.length <= 65_536 && !/\p{Cs}/u.test(e.extraData))) && (e.counterSignerOrganization === null || typeof e.counterSignerOrganization === 'string')));
    if (!ok) problems.push(`events[${i}] is malformed (exactly the 13 signed fields with their EIP-712 types; hashes 0x + 64 hex, signatures 65 bytes, occurredAt a decimal string)`);
    else if (v3 && !consentShapeOk((e as PodEventV3).consent)) problems.push(`events[${i}].consent must be null or exactly { kind (${CONSENT_KINDS.join(', ')}), delegationId (0x + 64 hex for DELEGATION, else null) }`);
  });
  if (v3) {
    const ids = new Set<string>();
    (delegations as unknown[]).forEach((d, i) => {
      if (!delegationShapeOk(d)) problems.push(`delegations[${i}] must be exactly { fields { delegationId delegator delegate carrier trackingNumber validFrom validUntil }, signature, signer, signerOrganization, digest, state (null or exactly { revokedAtMs key proof }) }, with hashes 0x + 64 hex, a 65-byte signature, times as decimal strings below 2^64`);
      else if (ids.has(lower((d as ProofBundleV3['delegations'][number]).fields.delegationId))) problems.push(`delegations[${i}]: delegation ${(d as ProofBundleV3['delegations'][number]).fields.delegationId} is listed twice`);
      else ids.add(lower((d as ProofBundleV3['delegations'][number]).fields.delegationId));
    });
  }
  const seqs = new Set<string>();
  b.batches!.forEach((batch, i) => {
    const ok =
      batch && typeof batch === 'object' && DECIMAL(19).test(batch.seq) && HEX32.test(batch.root) && isInt(batch.leafCount, 0, 2 ** 32 - 1) && typeof batch.status === 'string' &&
      (batch.txHash === null || HEX32.test(batch.txHash)) && (batch.blockNumber === null || isInt(batch.blockNumber, 0, Number.MAX_SAFE_INTEGER)) &&
      (batch.anchoredAt === null || (typeof batch.anchoredAt === 'string' && ISO_UTC.test(batch.anchoredAt))) && (batch.contractAddress === null || ADDRESS.test(batch.contractAddress)) &&
      (batch.chainId === null || (DECIMAL(77).test(batch.chainId) && BigInt(batch.chainId) < 1n << 256n)) &&
      (!v2 || ((batch.treeVersion === 1 || batch.treeVersion === 2) && HEX32.test(batch.eventsRoot) && (batch.stateRoot === null || HEX32.test(batch.stateRoot))));
    if (!ok) problems.push(`batches[${i}] needs seq (decimal string), root (0x + 64 hex), leafCount, status, and well-formed txHash, blockNumber, anchoredAt (ISO 8601 UTC), chainId, contractAddress${v2 ? ', treeVersion, eventsRoot and stateRoot' : ''}`);
    else if (seqs.has(BigInt(batch.seq).toString())) problems.push(`batches[${i}]: batch ${batch.seq} is listed twice`);
    else seqs.add(BigInt(batch.seq).toString());
  });
  return problems;
}

const exactKeys = (v: unknown, keys: readonly string[]): v is Record<string, unknown> =>
  !!v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === keys.length && keys.every((k) => Object.prototype.hasOwnProperty.call(v, k));
const TEXT = (v: unknown): boolean => typeof v === 'string' && v.length <= 256 && !/\p{Cs}/u.test(v);
const UINT64 = (v: unknown): boolean => DECIMAL(20).test(v) && BigInt(v as string) < 1n << 64n;
const STATE_PROOF = (p: unknown): boolean => Array.isArray(p) && p.length <= 256 && p.every((x) => HEX32.test(x));

function consentShapeOk(c: unknown): boolean {
  if (c === null) return true;
  if (!exactKeys(c, ['kind', 'delegationId']) || !(CONSENT_KINDS as readonly unknown[]).includes(c.kind)) return false;
  return c.kind === 'DELEGATION' ? HEX32.test(c.delegationId) : c.delegationId === null;
}

function delegationShapeOk(d: unknown): boolean {
  if (!exactKeys(d, ['fields', 'signature', 'signer', 'signerOrganization', 'digest', 'state'])) return false;
  const f = d.fields;
  const fieldsOk =
    exactKeys(f, ['delegationId', 'delegator', 'delegate', 'carrier', 'trackingNumber', 'validFrom', 'validUntil']) && HEX32.test(f.delegationId) &&
    ['delegator', 'delegate', 'carrier', 'trackingNumber'].every((k) => TEXT(f[k])) && UINT64(f.validFrom) && UINT64(f.validUntil);
  const st = d.state;
  const stateOk = st === null || (exactKeys(st, ['revokedAtMs', 'key', 'proof']) && (st.revokedAtMs === null || UINT64(st.revokedAtMs)) && HEX32.test(st.key) && STATE_PROOF(st.proof));
  return fieldsOk && stateOk && HEX65.test(d.signature) && ADDRESS.test(d.signer) && TEXT(d.signerOrganization) && HEX32.test(d.digest);
}

function stateShapeOk(s: unknown): boolean {
  const st = s as ProofBundleV2['state'];
  if (!st || typeof st !== 'object' || !DECIMAL(19).test(st.seq) || ![st.root, st.eventsRoot, st.stateRoot].every((h) => HEX32.test(h))) return false;
  const proofOk = (p: unknown): boolean => Array.isArray(p) && p.length <= 256 && p.every((x) => HEX32.test(x));
  const sh = st.shipment;
  if (!sh || typeof sh !== 'object' || !HEX32.test(sh.key) || !HEX32.test(sh.headLeaf) || !isInt(sh.eventCount, 0, 2 ** 31) || !proofOk(sh.proof)) return false;
  return (
    Array.isArray(st.signingKeys) &&
    st.signingKeys.length <= 10_000 &&
    st.signingKeys.every(
      (k) => k && typeof k === 'object' && ADDRESS.test(k.address) && typeof k.organization === 'string' && DECIMAL(20).test(k.validFromMs) && BigInt(k.validFromMs) < 1n << 64n &&
        (k.revokedAtMs === null || (DECIMAL(20).test(k.revokedAtMs) && BigInt(k.revokedAtMs) < 1n << 64n)) && HEX32.test(k.key) && proofOk(k.proof),
    )
  );
}
