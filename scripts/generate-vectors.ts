/**
 * Writes test/vectors/signing-v1.json: a fixed key, fixed events, their digests, signatures,
 * signature hashes, chained leaves and the batch tree over them. Run once per protocol version;
 * the committed file is the reference that test/signing and test/contracts check against.
 * Usage: npx ts-node --transpile-only scripts/generate-vectors.ts
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Wallet, id } from 'ethers';
import {
  CUSTODY_EVENT_TYPES,
  SIGNING_SPEC_VERSION,
  ZERO_HASH,
  custodyEventDigest,
  custodyLeaf,
  custodySigningDomain,
  domainSeparator,
  signaturesHash,
  type CustodyEventFields,
} from '../src/signing/custody-signing';
import { buildBatchTree } from '../src/batching/merkle';

async function main(): Promise<void> {
  const deviceKey = id('custody-ledger test vector key 1');
  const hubKey = id('custody-ledger test vector key 2');
  const device = new Wallet(deviceKey);
  const hub = new Wallet(hubKey);
  const domain = custodySigningDomain(31337n, '0x5FbDB2315678afecb367f032d93F642f64180aa3');
  const sep = domainSeparator(domain);
  const base = { trackingNumber: '1Z999AA10123456784', carrier: 'acme-express', locationCode: '', evidenceHash: ZERO_HASH, dataHash: ZERO_HASH };
  const events: CustodyEventFields[] = [
    { ...base, eventId: id('vector-event-1'), eventType: 'LABEL_CREATED', custodian: 'shop-one', occurredAt: 1764000000000n, latE6: 0, lonE6: 0, accuracyM: 0, scanMethod: 'MANUAL' },
    { ...base, eventId: id('vector-event-2'), eventType: 'PICKED_UP', custodian: 'acme-express', occurredAt: 1764003600000n, latE6: 52520008, lonE6: 13404954, accuracyM: 8, scanMethod: 'BARCODE' },
    { ...base, eventId: id('vector-event-3'), eventType: 'HANDOFF', custodian: 'berlin-hub', occurredAt: 1764010800000n, latE6: 52480000, lonE6: 13500000, accuracyM: 15, locationCode: 'DE-BER-HUB-1', scanMethod: 'RFID' },
    { ...base, eventId: id('vector-event-4'), eventType: 'DELIVERED', custodian: 'shop-one', occurredAt: 1764097200000n, latE6: -33868800, lonE6: 151209300, accuracyM: 4294967295, locationCode: 'Ünïcödé ✓', scanMethod: 'GPS', evidenceHash: id('photo.jpg'), dataHash: id('{"recipient":"salted"}') },
  ];
  let previousLeaf = ZERO_HASH;
  const rows = [];
  for (const event of events) {
    const digest = custodyEventDigest(sep, event);
    const signature = device.signingKey.sign(digest).serialized;
    const counterSignature = event.eventType === 'HANDOFF' ? hub.signingKey.sign(digest).serialized : null;
    const sigHash = signaturesHash(signature, counterSignature);
    const leaf = custodyLeaf(digest, sigHash, previousLeaf);
    rows.push({ event: { ...event, occurredAt: event.occurredAt.toString() }, digest, signature, counterSignature, signer: device.address, counterSigner: counterSignature ? hub.address : null, signaturesHash: sigHash, previousLeaf, leaf });
    previousLeaf = leaf;
  }
  const tree = await buildBatchTree(rows.map((r) => r.leaf));
  const vectors = {
    version: SIGNING_SPEC_VERSION,
    note: 'Test keys are derived from public strings. Never use them for anything real.',
    privateKeys: { device: deviceKey, hub: hubKey },
    domain: { ...domain, chainId: domain.chainId.toString() },
    domainSeparator: sep,
    types: CUSTODY_EVENT_TYPES,
    events: rows,
    merkle: { leaves: rows.map((r) => r.leaf), root: tree.root, proofs: tree.proofs },
  };
  const out = path.join(__dirname, '..', 'test', 'vectors', 'signing-v1.json');
  writeFileSync(out, JSON.stringify(vectors, null, 2) + '\n');
  console.log(`wrote ${out}`);
}

void main();
