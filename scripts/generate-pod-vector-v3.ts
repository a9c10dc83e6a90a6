/**
 * Writes test/vectors/custody-pod-v3.json: a custody-pod/3 bundle over fixed inputs. One shipment
 * with four events in batch 0 (custody-tree/2): the carrier's PICKED_UP (consent DESIGNATED), a
 * HANDOFF to the Berlin hub signed by the hub alone under the carrier's delegation (consent
 * DELEGATION: delegation 1 of test/vectors/custody-delegation-v1.json), OUT_FOR_DELIVERY and
 * DELIVERED by the hub. The state at seq 0 proves the shipment's head, both signing keys (the
 * carrier's key also signed the delegation) and the delegation's record, in a map that also holds
 * unrelated records (another delegation, revoked; other keys and shipments), so every proof has
 * siblings.
 *
 * Keys, domain and the PICKED_UP are those of test/vectors/signing-v1.json; the HANDOFF has the
 * signed fields of its HANDOFF, signed by the hub alone. Deterministic (RFC 6979, no clock, no
 * randomness); test/proofs/pod-v3-vector.spec.ts checks it regenerates byte for byte. As for /2,
 * where and when the batch is anchored are facts of a chain: the batch is SEALED with those fields
 * null, the events BATCHED; a test anchors the root on a fresh chain and fills them in.
 *
 * Usage: npx ts-node --transpile-only scripts/generate-pod-vector-v3.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Wallet, id } from 'ethers';
import { buildBatchTree, rootFromProof } from '../src/batching/merkle';
import { POD_FORMAT_V3, type PodConsent, type PodEventV3, type ProofBundleV3 } from '../src/proofs/pod-bundle';
import { CUSTODY_EVENT_TYPES, ZERO_HASH, custodyEventDigest, custodyLeaf, custodySigningDomain, domainSeparator, signaturesHash, type CustodyEventJson } from '../src/signing/custody-signing';
import { delegationFromJson } from '../src/signing/delegation-signing';
import {
  batchRootV2,
  delegationStateKey,
  delegationStateValue,
  shipmentStateKey,
  shipmentStateValue,
  signingKeyStateKey,
  signingKeyStateValue,
  stateCommitment,
  stateProof,
  stateRoot,
  verifyStateProof,
} from '../src/state/custody-state';
import { buildDelegationVector } from './generate-delegation-vector';
import { buildPodVectorV2 } from './generate-pod-vector-v2';

const ROOT = path.join(__dirname, '..');
export const POD_VECTOR_V3_PATH = path.join(ROOT, 'test/vectors/custody-pod-v3.json');

export async function buildPodVectorV3(): Promise<ProofBundleV3> {
  const v = JSON.parse(readFileSync(path.join(ROOT, 'test/vectors/signing-v1.json'), 'utf8')) as {
    version: string;
    privateKeys: { device: string; hub: string };
    domain: { name: string; version: string; chainId: string; verifyingContract: string };
    events: Array<{ event: CustodyEventJson; signature: string }>;
  };
  const domain = custodySigningDomain(BigInt(v.domain.chainId), v.domain.verifyingContract);
  const separator = domainSeparator(domain);
  const acme = new Wallet(v.privateKeys.device);
  const hub = new Wallet(v.privateKeys.hub);
  const [, pickedUp, handoff] = v.events;
  const { trackingNumber, carrier } = pickedUp.event;
  const [pinned, other] = (await buildDelegationVector()).cases;
  if (handoff.event.eventType !== 'HANDOFF' || handoff.event.custodian !== pinned.delegation.delegate) throw new Error('signing-v1.json no longer hands off to the delegate of custody-delegation-v1.json');

  const door = { latE6: 52_520_008, lonE6: 13_404_954 };
  const scan = (name: string, eventType: string, occurredAt: string, more: Partial<CustodyEventJson> = {}): CustodyEventJson => ({
    eventId: id(`custody-pod/3 vector ${name}`), trackingNumber, carrier, eventType, custodian: 'berlin-hub', occurredAt, latE6: 52_480_000, lonE6: 13_500_000, accuracyM: 12,
    locationCode: '', scanMethod: 'BARCODE', evidenceHash: ZERO_HASH, dataHash: ZERO_HASH, ...more,
  });
  const steps: Array<{ fields: CustodyEventJson; signer: Wallet; organization: string; consent: PodConsent | null }> = [
    { fields: pickedUp.event, signer: acme, organization: 'acme-express', consent: { kind: 'DESIGNATED', delegationId: null } },
    // the hub takes custody on its own signature: the carrier consented in advance, by delegation
    { fields: handoff.event, signer: hub, organization: 'berlin-hub', consent: { kind: 'DELEGATION', delegationId: pinned.delegation.delegationId } },
    { fields: scan('OUT_FOR_DELIVERY', 'OUT_FOR_DELIVERY', '1764061200000'), signer: hub, organization: 'berlin-hub', consent: null },
    { fields: scan('DELIVERED', 'DELIVERED', '1764064800000', { ...door, accuracyM: 5, scanMethod: 'GPS' }), signer: hub, organization: 'berlin-hub', consent: null },
  ];
  const events: PodEventV3[] = [];
  let head = ZERO_HASH;
  for (const [i, step] of steps.entries()) {
    const signed = { ...step.fields, occurredAt: BigInt(step.fields.occurredAt) };
    const signature = await step.signer.signTypedData(domain, CUSTODY_EVENT_TYPES, signed);
    const digest = custodyEventDigest(separator, signed);
    const sigHash = signaturesHash(signature, null);
    const leaf = custodyLeaf(digest, sigHash, head);
    events.push({
      eventId: step.fields.eventId, fields: step.fields, signature, counterSignature: null, signer: step.signer.address.toLowerCase(), counterSigner: null,
      signerOrganization: step.organization, counterSignerOrganization: null, digest, signaturesHash: sigHash, previousLeaf: head, leaf,
      status: 'BATCHED', batchSeq: '0', leafIndex: i, proof: [], evidence: null, flags: [], dualAttested: false, correctsEventId: null, correctedBy: null,
      receivedAt: new Date(Number(step.fields.occurredAt) + 30_000).toISOString(), extraData: null, consent: step.consent,
    });
    head = leaf;
  }
  if (events[0].signature !== pickedUp.signature) throw new Error('the PICKED_UP no longer signs to the signature in signing-v1.json');

  const tree = await buildBatchTree(events.map((e) => e.leaf));
  const validFromMs = '1763996400000';
  const keys = [
    { address: acme.address.toLowerCase(), organization: 'acme-express', validFromMs, revokedAtMs: null as string | null },
    { address: hub.address.toLowerCase(), organization: 'berlin-hub', validFromMs, revokedAtMs: null as string | null },
  ];
  const shipmentKey = shipmentStateKey(carrier, trackingNumber);
  const entries = [
    { key: shipmentKey, valueHash: shipmentStateValue(head, events.length) },
    { key: shipmentStateKey(carrier, '1Z999AA10123456785'), valueHash: shipmentStateValue(id('custody-pod/3 vector other head'), 2) },
    { key: signingKeyStateKey(new Wallet(id('custody-pod/3 vector rival-post key')).address), valueHash: signingKeyStateValue('rival-post', '1760000000000', null) },
    ...keys.map((k) => ({ key: signingKeyStateKey(k.address), valueHash: signingKeyStateValue(k.organization, k.validFromMs, k.revokedAtMs) })),
    { key: pinned.state.key, valueHash: pinned.state.value },
    { key: other.state.key, valueHash: other.state.valueRevoked },
  ];
  const state = stateRoot(entries);
  const root = batchRootV2(tree.root, state);
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
  const fields = delegationFromJson(pinned.delegation);
  if (delegationStateKey(fields.delegationId) !== pinned.state.key || delegationStateValue(pinned.digest, null) !== pinned.state.value) throw new Error('custody-delegation-v1.json disagrees with custody-state.ts');

  // the envelope (time, signing spec, leaf, tree and state formats, the anchoring left open) is the /2 vector's: /3 only adds
  const v2 = await buildPodVectorV2();
  return {
    ...v2,
    format: POD_FORMAT_V3,
    shipment: { ...v2.shipment, eventCount: events.length, headLeaf: head },
    events,
    batches: [{ ...v2.batches[0], root, eventsRoot: tree.root, stateRoot: state, leafCount: events.length }],
    state: {
      seq: '0',
      root,
      eventsRoot: tree.root,
      stateRoot: state,
      shipment: { key: shipmentKey, headLeaf: head, eventCount: events.length, proof: prove(shipmentKey, shipmentStateValue(head, events.length)) },
      signingKeys: keys.map((k) => ({ ...k, key: signingKeyStateKey(k.address), proof: prove(signingKeyStateKey(k.address), signingKeyStateValue(k.organization, k.validFromMs, k.revokedAtMs)) })).sort((a, b) => (a.address < b.address ? -1 : 1)),
    },
    delegations: [
      {
        fields: pinned.delegation,
        signature: pinned.signature,
        signer: pinned.signer,
        signerOrganization: pinned.delegation.delegator,
        digest: pinned.digest,
        state: { revokedAtMs: null, key: pinned.state.key, proof: prove(pinned.state.key, pinned.state.value) },
      },
    ],
    findings: [],
  };
}

/** The file's exact text: what the generator writes and the test compares. */
export const podVectorV3Text = async (): Promise<string> => JSON.stringify(await buildPodVectorV3(), null, 2) + '\n';

if (require.main === module) {
  podVectorV3Text()
    .then((text) => {
      writeFileSync(POD_VECTOR_V3_PATH, text);
      console.log(`wrote ${POD_VECTOR_V3_PATH}`);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
