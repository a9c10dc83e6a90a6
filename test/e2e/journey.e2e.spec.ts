import { Contract, JsonRpcProvider, TypedDataEncoder, type Wallet } from 'ethers';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { CUSTODY_ANCHOR_ABI } from '../../src/anchoring/custody-anchor';
import { CUSTODY_EVENT_TYPES, type CustodySigningDomain } from '../../src/signing/custody-signing';
import { startTestLedger, eventually, type TestLedger } from '../support/test-ledger';
import { createShipment, eventFields, fetchDomain, mustGql, newWallet, record, registerKey, registerOrganization, signEvent, type SignedEventInput } from '../support/factories';

const LEAF_TYPES = ['bytes32', 'bytes32', 'bytes32'];

interface Proof {
  eventId: string;
  status: string;
  digest: string;
  signaturesHash: string;
  previousLeaf: string;
  leaf: string;
  proof: string[];
  leafIndex: number;
  batchSeq: string;
  root: string;
  chainId: string | null;
  contractAddress: string | null;
  txHash: string | null;
  blockNumber: number | null;
}

describe('a parcel journey end to end over HTTP: sign, record, seal, anchor, prove', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  let keys: Record<'merchant' | 'carrier' | 'hub' | 'driver', Wallet>;
  const tracking = 'CL1234567890DE';
  const signed: SignedEventInput[] = [];

  beforeAll(async () => {
    t = await startTestLedger({ CONFIRMATIONS: '3' });
    domain = await fetchDomain(t);
    await registerOrganization(t, 'shop-one', 'MERCHANT', 'Shop One GmbH');
    await registerOrganization(t, 'acme-express', 'CARRIER', 'ACME Express');
    await registerOrganization(t, 'berlin-hub', 'HUB', 'Berlin Hub');
    keys = {
      merchant: await registerKey(t, 'shop-one'),
      carrier: await registerKey(t, 'acme-express'),
      hub: await registerKey(t, 'berlin-hub'),
      driver: await registerKey(t, 'acme-express', newWallet()),
    };
    await createShipment(t, tracking, 'acme-express', 'shop-one');
  });

  afterAll(async () => {
    await t?.stop();
  });

  it('publishes signing spec v1 with the anchor chain id and contract as its domain', async () => {
    const data = await mustGql<{ custodySigningSpec: { version: string; primaryType: string; typedDataJson: string; types: Array<{ name: string; fields: Array<{ name: string; type: string }> }> } }>(
      t,
      `{ custodySigningSpec { version primaryType typedDataJson types { name fields { name type } } } }`,
    );
    const spec = data.custodySigningSpec;
    expect(spec.version).toBe('custody-signing/1');
    expect(spec.primaryType).toBe('CustodyEvent');
    expect(spec.types.find((x) => x.name === 'CustodyEvent')!.fields).toEqual(CUSTODY_EVENT_TYPES.CustodyEvent);
    expect(domain.chainId).toBe(t.ledger.runtime.chain.chainId);
    expect(domain.verifyingContract).toBe(t.ledger.contractAddress);
    expect(JSON.parse(spec.typedDataJson).domain.verifyingContract).toBe(t.ledger.contractAddress);
  });

  it('records a full journey and chains every leaf to the previous one', async () => {
    const base = { trackingNumber: tracking, carrier: 'acme-express' };
    const t0 = Date.now() - 10 * 3_600_000;
    const at = (h: number) => BigInt(t0 + h * 3_600_000);
    signed.push(
      await signEvent(domain, keys.merchant, eventFields({ ...base, eventType: 'LABEL_CREATED', custodian: 'shop-one', occurredAt: at(0), scanMethod: 'MANUAL' })),
      await signEvent(domain, keys.carrier, eventFields({ ...base, eventType: 'PICKED_UP', custodian: 'acme-express', occurredAt: at(1) })),
      await signEvent(domain, keys.hub, eventFields({ ...base, eventType: 'HANDOFF', custodian: 'berlin-hub', occurredAt: at(3), locationCode: 'DE-BER-HUB-1', scanMethod: 'RFID' }), keys.carrier),
      await signEvent(domain, keys.hub, eventFields({ ...base, eventType: 'ARRIVED_AT_FACILITY', custodian: 'berlin-hub', occurredAt: at(3.1), locationCode: 'DE-BER-HUB-1' })),
      await signEvent(domain, keys.driver, eventFields({ ...base, eventType: 'HANDOFF', custodian: 'acme-express', occurredAt: at(6) }), keys.hub),
      await signEvent(domain, keys.driver, eventFields({ ...base, eventType: 'OUT_FOR_DELIVERY', custodian: 'acme-express', occurredAt: at(7) })),
      await signEvent(domain, keys.driver, eventFields({ ...base, eventType: 'DELIVERED', custodian: 'acme-express', occurredAt: at(9), latE6: 52_500_100, lonE6: 13_400_050, accuracyM: 6, scanMethod: 'GPS' })),
    );
    const results = await record(t, signed);
    expect(results.map((r) => r.outcome)).toEqual(signed.map(() => 'ACCEPTED'));
    expect(results[0].receipt!.previousLeaf).toBe('0x' + '00'.repeat(32));
    for (let i = 1; i < results.length; i++) expect(results[i].receipt!.previousLeaf).toBe(results[i - 1].receipt!.leaf);
    for (const [i, r] of results.entries()) {
      expect(r.receipt!.status).toBe('PENDING');
      // the digest the service computed is the one any EIP-712 implementation computes
      expect(r.receipt!.digest).toBe(TypedDataEncoder.hash(domain, CUSTODY_EVENT_TYPES, { ...signed[i], occurredAt: BigInt(signed[i].occurredAt) }));
    }
  });

  it('shows the shipment with its status, custodian and timeline', async () => {
    const data = await mustGql<{ shipment: { status: string; eventCount: number; currentCustodian: { slug: string }; merchant: { slug: string }; events: Array<{ eventId: string; eventType: string; signer: string; counterSigner: string | null; status: string }> } }>(
      t,
      `query($n: String!, $c: String!) { shipment(trackingNumber: $n, carrier: $c) { status eventCount currentCustodian { slug } merchant { slug }
         events { eventId eventType signer counterSigner status } } }`,
      { n: tracking, c: 'acme-express' },
    );
    expect(data.shipment.status).toBe('DELIVERED');
    expect(data.shipment.eventCount).toBe(7);
    expect(data.shipment.currentCustodian.slug).toBe('acme-express');
    expect(data.shipment.merchant.slug).toBe('shop-one');
    expect(data.shipment.events.map((e) => e.eventId)).toEqual(signed.map((s) => s.eventId));
    expect(data.shipment.events[2].signer).toBe(keys.hub.address.toLowerCase());
    expect(data.shipment.events[2].counterSigner).toBe(keys.carrier.address.toLowerCase());
  });

  it('returns a pending inclusion proof without a batch before sealing', async () => {
    const data = await mustGql<{ inclusionProof: Proof }>(t, `query($id: String!) { inclusionProof(eventId: $id) { status proof batchSeq root } }`, { id: signed[0].eventId });
    expect(data.inclusionProof).toEqual({ status: 'PENDING', proof: null, batchSeq: null, root: null });
  });

  it('seals, anchors and finalizes; every proof verifies three ways', async () => {
    const sealed = await mustGql<{ sealBatch: { seq: string; leafCount: number; status: string; root: string } }>(t, `mutation { sealBatch { seq leafCount status root } }`);
    expect(sealed.sealBatch).toMatchObject({ seq: '0', leafCount: 7 });
    const provider = new JsonRpcProvider(t.ledger.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
    const contract = new Contract(t.ledger.contractAddress, CUSTODY_ANCHOR_ABI, provider);
    // anchored but not yet 3 blocks deep
    const anchored = await eventually(async () => {
      const d = await mustGql<{ batch: { status: string; txHash: string | null; blockNumber: number | null } }>(t, `{ batch(seq: "0") { status txHash blockNumber } }`);
      return d.batch.status === 'ANCHORED' ? d.batch : undefined;
    }, 30_000, 'batch 0 ANCHORED');
    expect(anchored.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    const middle = await mustGql<{ inclusionProof: Proof }>(t, `query($id: String!) { inclusionProof(eventId: $id) { status } }`, { id: signed[3].eventId });
    expect(middle.inclusionProof.status).toBe('ANCHORED');
    await provider.send('hardhat_mine', ['0x2']);
    await eventually(async () => {
      const d = await mustGql<{ batch: { status: string } }>(t, `{ batch(seq: "0") { status } }`);
      return d.batch.status === 'FINAL' ? true : undefined;
    }, 30_000, 'batch 0 FINAL');

    for (const event of signed) {
      const { inclusionProof: p } = await mustGql<{ inclusionProof: Proof }>(
        t,
        `query($id: String!) { inclusionProof(eventId: $id) { eventId status digest signaturesHash previousLeaf leaf proof leafIndex batchSeq root chainId contractAddress txHash blockNumber } }`,
        { id: event.eventId },
      );
      expect(p.status).toBe('FINAL');
      expect(p.chainId).toBe(domain.chainId.toString());
      expect(p.contractAddress).toBe(t.ledger.contractAddress);
      expect(p.txHash).toBe(anchored.txHash);
      expect(p.blockNumber).toBe(anchored.blockNumber);
      // 1. off chain, with OpenZeppelin's own implementation, from the values (not the given leaf)
      expect(StandardMerkleTree.verify(p.root, LEAF_TYPES, [p.digest, p.signaturesHash, p.previousLeaf], p.proof)).toBe(true);
      // 2. on chain, the contract's verifyInclusion with a leaf the contract derives itself
      const leaf = (await contract.getFunction('custodyLeaf')(p.digest, p.signaturesHash, p.previousLeaf)) as string;
      expect(leaf).toBe(p.leaf);
      expect(await contract.getFunction('verifyInclusion')(BigInt(p.batchSeq), leaf, p.proof)).toBe(true);
      // 3. the stored root is the root on chain
      expect(((await contract.getFunction('batchRoot')(BigInt(p.batchSeq))) as string).toLowerCase()).toBe(p.root);
    }
    // a proof for the wrong leaf fails on chain
    const other = await mustGql<{ inclusionProof: Proof }>(t, `query($id: String!) { inclusionProof(eventId: $id) { leaf proof } }`, { id: signed[1].eventId });
    const first = await mustGql<{ inclusionProof: Proof }>(t, `query($id: String!) { inclusionProof(eventId: $id) { leaf proof } }`, { id: signed[0].eventId });
    expect(await contract.getFunction('verifyInclusion')(0n, first.inclusionProof.leaf, other.inclusionProof.proof)).toBe(false);
    provider.destroy();
  });

  it('lists batches with cursor pagination', async () => {
    const data = await mustGql<{ batches: { totalCount: number; edges: Array<{ cursor: string; node: { seq: string; status: string } }>; pageInfo: { hasNextPage: boolean; endCursor: string } } }>(
      t,
      `{ batches(first: 1) { totalCount edges { cursor node { seq status } } pageInfo { hasNextPage endCursor } } }`,
    );
    expect(data.batches.totalCount).toBe(1);
    expect(data.batches.edges.map((e) => e.node)).toEqual([{ seq: '0', status: 'FINAL' }]);
    expect(data.batches.pageInfo.hasNextPage).toBe(false);
    const next = await mustGql<{ batches: { edges: unknown[] } }>(t, `query($a: String) { batches(first: 5, after: $a) { edges { cursor } } }`, { a: data.batches.pageInfo.endCursor });
    expect(next.batches.edges).toEqual([]);
  });
});
