/**
 * Writes test/vectors/custody-pod-v2.json: a custody-pod/2 bundle over fixed inputs. One shipment
 * with six events in batch 0 (custody-tree/2): PICKED_UP, a HANDOFF counter-signed by the
 * receiving hub (dual attested), OUT_FOR_DELIVERY, DELIVERED with evidence metadata, a CORRECTION
 * voiding that DELIVERED through its signed extra data, and a second DELIVERED. The state section
 * proves, at seq 0, the shipment's head and both signing keys against a state map that also holds
 * unrelated records, so every proof has siblings.
 *
 * Event proofs are custody-tree/2 proofs: the event-tree siblings followed by the state commitment
 * keccak256(0x02 ‖ eventsRoot ‖ stateRoot), so they fold to the anchored root itself.
 *
 * Keys and the first two events are those of test/vectors/signing-v1.json (chain 31337, the
 * contract at the first address Hardhat account #0 deploys to); the other events are signed here
 * with the same keys. ECDSA signatures are deterministic (RFC 6979), and nothing reads the clock
 * or a random source, so the output is byte for byte reproducible; test/proofs/pod-v2-vector.spec.ts
 * checks that it is.
 *
 * Where and when the batch is anchored are facts of a chain, not of the format: the batch is left
 * SEALED with chainId, contractAddress, txHash, blockNumber and anchoredAt null, and the events
 * BATCHED. A test anchors the root on a fresh chain and fills them in.
 *
 * Usage: npx ts-node --transpile-only scripts/generate-pod-vector-v2.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Wallet, id } from 'ethers';
import { buildBatchTree, rootFromProof } from '../src/batching/merkle';
import { canonicalJson, dataHashOf } from '../src/custody/extra-data';
import { LEAF_FORMAT_V1, POD_FORMAT_V2, TREE_FORMATS, type PodEventV2, type PodKeyRecord, type ProofBundleV2 } from '../src/proofs/pod-bundle';
import {
  CUSTODY_EVENT_TYPES,
  EIP712_DOMAIN_TYPE,
  ZERO_HASH,
  custodyEventDigest,
  custodyLeaf,
  custodySigningDomain,
  domainSeparator,
  signaturesHash,
  type CustodyEventFields,
  type CustodyEventJson,
} from '../src/signing/custody-signing';
import {
  STATE_FORMAT,
  batchRootV2,
  shipmentStateKey,
  shipmentStateValue,
  signingKeyStateKey,
  signingKeyStateValue,
  stateCommitment,
  stateProof,
  stateRoot,
  verifyStateProof,
} from '../src/state/custody-state';

const ROOT = path.join(__dirname, '..');
export const POD_VECTOR_V2_PATH = path.join(ROOT, 'test/vectors/custody-pod-v2.json');

/** As src/proofs/proof-bundle.service.ts writes it; the offline e2e compares it with a live bundle. */

interface SigningVectorEvent {
  event: CustodyEventJson;
  signature: string;
  counterSignature: string | null;
}

interface Step {
  fields: CustodyEventJson;
  signer: Wallet;
  signerOrganization: string;
  counter?: { wallet: Wallet; organization: string };
  evidence?: { contentType: string; sizeBytes: number };
  extraData?: string;
  /** index of the step this one corrects */
  corrects?: number;
}

/** The bundle, built from fixed inputs; throws if any of its own proofs does not check out. */
export async function buildPodVectorV2(): Promise<ProofBundleV2> {
  const v = JSON.parse(readFileSync(path.join(ROOT, 'test/vectors/signing-v1.json'), 'utf8')) as {
    version: string;
    privateKeys: { device: string; hub: string };
    domain: { name: string; version: string; chainId: string; verifyingContract: string };
    events: SigningVectorEvent[];
  };
  const domain = custodySigningDomain(BigInt(v.domain.chainId), v.domain.verifyingContract);
  const separator = domainSeparator(domain);
  const acme = new Wallet(v.privateKeys.device);
  const hub = new Wallet(v.privateKeys.hub);
  const trackingNumber = v.events[0].event.trackingNumber;
  const carrier = v.events[0].event.carrier;
  const [, pickedUp, handoff] = v.events;
  if (pickedUp.event.eventType !== 'PICKED_UP' || handoff.event.eventType !== 'HANDOFF' || handoff.counterSignature === null) throw new Error('signing-v1.json no longer has PICKED_UP and a counter-signed HANDOFF at #1 and #2');

  const base = { trackingNumber, carrier, locationCode: '', evidenceHash: ZERO_HASH, dataHash: ZERO_HASH };
  const door = { latE6: 52_520_008, lonE6: 13_404_954 };
  const neighbour = { latE6: 52_520_180, lonE6: 13_405_120 };
  const fieldsOf = (name: string, f: Omit<CustodyEventJson, 'eventId' | 'trackingNumber' | 'carrier' | 'locationCode' | 'evidenceHash' | 'dataHash'> & Partial<CustodyEventJson>): CustodyEventJson => ({
    ...base,
    eventId: id(`custody-pod/2 vector ${name}`),
    ...f,
  });
  const firstDelivered = fieldsOf('DELIVERED 1', { eventType: 'DELIVERED', custodian: 'berlin-hub', occurredAt: '1764064800000', ...neighbour, accuracyM: 6, scanMethod: 'GPS', evidenceHash: id('custody-pod/2 vector door photo 1') });
  const extraData = canonicalJson({ v: 1, corrects: firstDelivered.eventId, reason: 'scanned at the neighbour’s door' });
  const steps: Step[] = [
    { fields: pickedUp.event, signer: acme, signerOrganization: 'acme-express' },
    // the carrier releases, the hub takes custody and counter-signs
    { fields: handoff.event, signer: acme, signerOrganization: 'acme-express', counter: { wallet: hub, organization: 'berlin-hub' } },
    { fields: fieldsOf('OUT_FOR_DELIVERY', { eventType: 'OUT_FOR_DELIVERY', custodian: 'berlin-hub', occurredAt: '1764061200000', latE6: 52_480_000, lonE6: 13_500_000, accuracyM: 12, locationCode: 'DE-BER-HUB-1', scanMethod: 'BARCODE' }), signer: hub, signerOrganization: 'berlin-hub' },
    { fields: firstDelivered, signer: hub, signerOrganization: 'berlin-hub', evidence: { contentType: 'image/jpeg', sizeBytes: 204_800 } },
    { fields: fieldsOf('CORRECTION', { eventType: 'CORRECTION', custodian: 'berlin-hub', occurredAt: '1764066600000', ...neighbour, accuracyM: 6, scanMethod: 'MANUAL', dataHash: dataHashOf(extraData) }), signer: hub, signerOrganization: 'berlin-hub', extraData, corrects: 3 },
    { fields: fieldsOf('DELIVERED 2', { eventType: 'DELIVERED', custodian: 'berlin-hub', occurredAt: '1764068400000', ...door, accuracyM: 5, scanMethod: 'GPS', evidenceHash: id('custody-pod/2 vector door photo 2') }), signer: hub, signerOrganization: 'berlin-hub', evidence: { contentType: 'image/jpeg', sizeBytes: 198_000 } },
  ];

  let previous = ZERO_HASH;
  const events: PodEventV2[] = [];
  for (const step of steps) {
    const fields: CustodyEventFields = { ...step.fields, occurredAt: BigInt(step.fields.occurredAt) };
    const digest = custodyEventDigest(separator, fields);
    const signature = await step.signer.signTypedData(domain, CUSTODY_EVENT_TYPES, fields);
    const counterSignature = step.counter ? await step.counter.wallet.signTypedData(domain, CUSTODY_EVENT_TYPES, fields) : null;
    const sigHash = signaturesHash(signature, counterSignature);
    const leaf = custodyLeaf(digest, sigHash, previous);
    events.push({
      eventId: step.fields.eventId,
      fields: {
        eventId: step.fields.eventId,
        trackingNumber: step.fields.trackingNumber,
        carrier: step.fields.carrier,
        eventType: step.fields.eventType,
        custodian: step.fields.custodian,
        occurredAt: step.fields.occurredAt,
        latE6: step.fields.latE6,
        lonE6: step.fields.lonE6,
        accuracyM: step.fields.accuracyM,
        locationCode: step.fields.locationCode,
        scanMethod: step.fields.scanMethod,
        evidenceHash: step.fields.evidenceHash,
        dataHash: step.fields.dataHash,
      },
      signature,
      counterSignature,
      signer: step.signer.address.toLowerCase(),
      counterSigner: step.counter?.wallet.address.toLowerCase() ?? null,
      signerOrganization: step.signerOrganization,
      counterSignerOrganization: step.counter?.organization ?? null,
      digest,
      signaturesHash: sigHash,
      previousLeaf: previous,
      leaf,
      status: 'BATCHED',
      batchSeq: '0',
      leafIndex: events.length,
      proof: [],
      evidence: step.evidence ? { ...step.evidence, hash: step.fields.evidenceHash } : null,
      flags: [],
      dualAttested: step.counter !== undefined,
      correctsEventId: step.corrects === undefined ? null : steps[step.corrects].fields.eventId,
      correctedBy: null,
      receivedAt: new Date(Number(step.fields.occurredAt) + 30_000).toISOString(),
      extraData: step.extraData ?? null,
    });
    previous = leaf;
  }
  // the events reused from signing-v1 must sign to exactly the signatures pinned there
  for (const [i, pinned] of [[0, pickedUp], [1, handoff]] as const) {
    if (events[i].signature !== pinned.signature || events[i].counterSignature !== pinned.counterSignature) throw new Error(`event #${i} no longer signs to the signature in signing-v1.json`);
  }
  steps.forEach((step, i) => {
    if (step.corrects !== undefined) events[step.corrects].correctedBy = events[i].eventId;
  });

  const tree = await buildBatchTree(events.map((e) => e.leaf));

  // the state after batch 0: this shipment, both signing keys, and records of others
  const validFromMs = '1763996400000';
  const keyRecords = [
    { address: acme.address.toLowerCase(), organization: 'acme-express', validFromMs, revokedAtMs: null as string | null },
    { address: hub.address.toLowerCase(), organization: 'berlin-hub', validFromMs, revokedAtMs: null as string | null },
  ];
  const unrelatedKeys = [
    { address: new Wallet(id('custody-pod/2 vector rival-post key')).address.toLowerCase(), organization: 'rival-post', validFromMs: '1760000000000', revokedAtMs: '1764000000000' },
    { address: new Wallet(id('custody-pod/2 vector shop-one key')).address.toLowerCase(), organization: 'shop-one', validFromMs: '1763000000000', revokedAtMs: null },
  ];
  const shipmentKey = shipmentStateKey(carrier, trackingNumber);
  const entries = [
    { key: shipmentKey, valueHash: shipmentStateValue(previous, events.length) },
    // the next tracking number, and the same tracking number under another carrier: other records
    { key: shipmentStateKey(carrier, '1Z999AA10123456785'), valueHash: shipmentStateValue(id('custody-pod/2 vector other head 1'), 3) },
    { key: shipmentStateKey('nordpost', trackingNumber), valueHash: shipmentStateValue(id('custody-pod/2 vector other head 2'), 2) },
    ...[...keyRecords, ...unrelatedKeys].map((r) => ({ key: signingKeyStateKey(r.address), valueHash: signingKeyStateValue(r.organization, r.validFromMs, r.revokedAtMs) })),
  ];
  const state = stateRoot(entries);
  const root = batchRootV2(tree.root, state);
  // custody-tree/2: every event proof ends with the state commitment and folds to the anchored root
  const commitment = stateCommitment(tree.root, state);
  for (const [i, e] of events.entries()) {
    e.proof = [...tree.proofs[i], commitment];
    if ((await rootFromProof(e.leaf, e.proof)) !== root) throw new Error(`event #${i}: its proof does not lead to the batch root`);
  }
  const prove = (key: string, valueHash: string): string[] => {
    const proof = stateProof(entries, key);
    if (proof.length === 0 || !verifyStateProof(state, key, valueHash, proof)) throw new Error(`the state proof of ${key} is empty or does not verify`);
    return proof;
  };
  const signingKeys: PodKeyRecord[] = keyRecords
    .map((r) => {
      const key = signingKeyStateKey(r.address);
      return { ...r, key, proof: prove(key, signingKeyStateValue(r.organization, r.validFromMs, r.revokedAtMs)) };
    })
    .sort((a, b) => (a.address < b.address ? -1 : 1));

  return {
    format: POD_FORMAT_V2,
    generatedAt: '2025-11-25T12:00:00.000Z',
    shipment: { trackingNumber, carrier, merchant: 'shop-one', destination: { ...door, radiusM: 150 }, status: 'DELIVERED', eventCount: events.length, headLeaf: previous },
    signing: { version: v.version, primaryType: 'CustodyEvent', domain: v.domain, types: { EIP712Domain: EIP712_DOMAIN_TYPE, ...CUSTODY_EVENT_TYPES } },
    leafFormat: LEAF_FORMAT_V1,
    treeFormat: TREE_FORMATS,
    stateFormat: STATE_FORMAT,
    events,
    batches: [{ seq: '0', treeVersion: 2, root, eventsRoot: tree.root, stateRoot: state, leafCount: events.length, status: 'SEALED', chainId: null, contractAddress: null, txHash: null, blockNumber: null, anchoredAt: null }],
    state: {
      seq: '0',
      root,
      eventsRoot: tree.root,
      stateRoot: state,
      shipment: { key: shipmentKey, headLeaf: previous, eventCount: events.length, proof: prove(shipmentKey, shipmentStateValue(previous, events.length)) },
      signingKeys,
    },
    findings: [],
  };
}

/** The file's exact text: what the generator writes and the test compares. */
export const podVectorV2Text = async (): Promise<string> => JSON.stringify(await buildPodVectorV2(), null, 2) + '\n';

if (require.main === module) {
  const out = process.argv[2] ? path.resolve(process.argv[2]) : POD_VECTOR_V2_PATH;
  podVectorV2Text()
    .then((text) => {
      writeFileSync(out, text);
      console.log(`wrote ${out}`);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
