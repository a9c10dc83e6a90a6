import { type Wallet } from 'ethers';
import { sqlRows } from '../../src/database/data-source';
import { verifyProofBundle } from '../../src/proofs/bundle-verifier';
import type { ProofBundleV3 } from '../../src/proofs/pod-bundle';
import type { TrustFile } from '../../src/proofs/trust-root';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';
import { startTestLedger, type TestLedger } from '../support/test-ledger';
import { DOOR, HOUR, insertPastIngestion, sealAndFinalize } from '../support/pod-fixtures';
import { eventFields, fetchDomain, mustGql, newWallet, record, registerKey, registerOrganization, signEvent } from '../support/factories';

/**
 * A ledger upgraded to consented custody (issue 9) holds receiver-only transfers it accepted
 * before, under the rules of their time. The ledger's own dispute verdict must not call their
 * deliveries hijacks; the same pattern written after the upgrade is one. The independent verifier
 * cannot tell them apart from the bundle and stays strict: /3 is INVALID either way (ask for /2,
 * which is INCOMPLETE), so nothing from before the upgrade is ever VALID or DELIVERY_PROVEN.
 */
const T0 = Date.now() - 48 * HOUR;
const at = (h: number): bigint => BigInt(T0 + Math.round(h * HOUR));

describe('transfers accepted before consent was required (the upgrade)', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  const keys: Record<string, Wallet> = {};

  /** The carrier picks up; then a receiver-only HANDOFF to the hub and the hub's delivery, written past ingestion. */
  async function receiverOnlyJourney(tracking: string): Promise<void> {
    await mustGql(t, `mutation($i: CreateShipmentInput!) { createShipment(input: $i) { id } }`, { i: { trackingNumber: tracking, carrier: 'acme-express', merchant: 'shop-one', destination: { ...DOOR, radiusM: 150 } } });
    const base = { trackingNumber: tracking, carrier: 'acme-express', latE6: 52_530_000, lonE6: 13_390_000, accuracyM: 10 };
    const [picked] = await record(t, [await signEvent(domain, keys['acme-express'], eventFields({ ...base, eventType: 'PICKED_UP', custodian: 'acme-express', occurredAt: at(1) }))]);
    expect(picked.outcome).toBe('ACCEPTED');
    await insertPastIngestion(t, domain, keys['berlin-hub'], 'berlin-hub', eventFields({ ...base, eventType: 'HANDOFF', custodian: 'berlin-hub', occurredAt: at(2) }), 'IN_TRANSIT');
    await insertPastIngestion(t, domain, keys['berlin-hub'], 'berlin-hub', eventFields({ ...base, ...DOOR, eventType: 'DELIVERED', custodian: 'berlin-hub', occurredAt: at(3), accuracyM: 8, scanMethod: 'GPS' }), 'DELIVERED');
  }

  const dispute = async (tracking: string): Promise<{ verdict: string; reasons: string[] }> =>
    (await mustGql<{ openDispute: { verdict: string; reasons: string[] } }>(t, `mutation($n: String!) { openDispute(trackingNumber: $n, carrier: "acme-express", claim: NOT_RECEIVED, note: "") { verdict reasons } }`, { n: tracking })).openDispute;

  beforeAll(async () => {
    t = await startTestLedger();
    domain = await fetchDomain(t);
    await registerOrganization(t, 'shop-one', 'MERCHANT');
    for (const [slug, kind] of [['acme-express', 'CARRIER'], ['berlin-hub', 'HUB']] as const) {
      await registerOrganization(t, slug, kind);
      keys[slug] = await registerKey(t, slug, newWallet(), new Date(T0 - HOUR));
    }
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it('the migration records which events came before it; a receiver-only delivery from before is INCONCLUSIVE, the same written after is DELIVERY_CONTRADICTED', async () => {
    const ds = t.ledger.runtime.dataSource;
    const [upgrade] = await sqlRows<{ event_id_watermark: string }>(ds, `SELECT event_id_watermark::text FROM ledger_upgrades WHERE name = 'custody-consent'`);
    expect(upgrade.event_id_watermark).toBe('0'); // a new ledger: nothing came before
    await receiverOnlyJourney('UPGRADE-OLD');
    // as if these events had been recorded before the upgrade ran
    await sqlRows(ds, `UPDATE ledger_upgrades SET event_id_watermark = (SELECT max(id) FROM custody_events) WHERE name = 'custody-consent'`);
    await receiverOnlyJourney('UPGRADE-NEW');
    await sealAndFinalize(t);

    const old = await dispute('UPGRADE-OLD');
    expect(old.verdict).toBe('INCONCLUSIVE');
    expect(old.reasons.join(' ')).toMatch(/custody reached berlin-hub through a transfer accepted before this ledger required consent for transfers \(the HANDOFF .* signed by berlin-hub alone\)/);
    const forged = await dispute('UPGRADE-NEW');
    expect(forged.verdict).toBe('DELIVERY_CONTRADICTED');
    expect(forged.reasons[0]).toMatch(/^berlin-hub signed the DELIVERED but never received custody with consent/);

    // the verifier, which trusts no watermark, is strict on both
    const trust = (await (await fetch(t.url.replace('/graphql', '/trust.json'))).json()) as TrustFile;
    for (const tracking of ['UPGRADE-OLD', 'UPGRADE-NEW']) {
      const bundle = (await mustGql<{ proofOfDelivery: ProofBundleV3 }>(t, `query($n: String!) { proofOfDelivery(trackingNumber: $n, carrier: "acme-express") }`, { n: tracking })).proofOfDelivery;
      const report = await verifyProofBundle(bundle, { rpcUrl: t.ledger.rpcUrl, trust });
      expect([tracking, report.verdict, [...new Set(report.failures.map((f) => f.check))]]).toEqual([tracking, 'INVALID', ['CONSENT']]);
      const v2 = (await mustGql<{ proofOfDelivery: unknown }>(t, `query($n: String!) { proofOfDelivery(trackingNumber: $n, carrier: "acme-express", format: "custody-pod/2") }`, { n: tracking })).proofOfDelivery;
      expect((await verifyProofBundle(v2, { rpcUrl: t.ledger.rpcUrl, trust })).verdict).toBe('INCOMPLETE');
    }
  });
});
