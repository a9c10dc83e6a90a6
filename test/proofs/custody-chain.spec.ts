import { consentedHolder, replayTransfers, type ChainDelegation, type ChainEvent, type CustodyLink } from '../../src/proofs/custody-chain';

/** The custody chain as the verifier and the dispute verdict replay it: pure, so every rule is tested alone. */
const SHIPMENT = { carrier: 'acme', merchant: 'shop', trackingNumber: 'T-1' };
let n = 0;
const ev = (eventType: string, custodian: string, hour: number, signer: string, counter: string | null = null, corrects: string | null = null): ChainEvent => ({
  eventId: `0x${(++n).toString(16).padStart(64, '0')}`,
  eventType,
  custodian,
  occurredAt: BigInt(hour * 3_600_000),
  signerOrganization: signer,
  counterSignerOrganization: counter,
  correctsEventId: corrects,
});
const delegation = (over: Partial<ChainDelegation> = {}): ChainDelegation => ({
  delegationId: '0xd1', delegatorId: 'acme', delegate: 'hub', carrier: 'acme', trackingNumber: '', validFrom: 0n, validUntil: 100n * 3_600_000n,
  revokedAt: null, keyValidFrom: 0n, keyRevokedAt: null, proven: true, ...over,
});
const kinds = (events: ChainEvent[], delegations: ChainDelegation[] = [], preferred?: (i: number) => string | null) =>
  replayTransfers(events, SHIPMENT, delegations, preferred).map((f) => [f.eventIndex, f.from, f.consent?.kind ?? null, f.consent?.delegationId ?? null]);

describe('replayTransfers: the releasing custodian and its consent, per transfer', () => {
  it('the carrier’s pick-up is DESIGNATED; a HANDOFF signed by the receiver alone has no consent; signed or counter-signed by the releasing custodian it has', () => {
    const picked = ev('PICKED_UP', 'acme', 1, 'acme');
    expect(kinds([picked, ev('HANDOFF', 'rival', 2, 'rival')])).toEqual([[0, 'shop', 'DESIGNATED', null], [1, 'acme', null, null]]);
    expect(kinds([picked, ev('HANDOFF', 'hub', 2, 'acme')])).toEqual([[0, 'shop', 'DESIGNATED', null], [1, 'acme', 'SIGNED', null]]);
    expect(kinds([picked, ev('HANDOFF', 'hub', 2, 'hub', 'acme')])).toEqual([[0, 'shop', 'DESIGNATED', null], [1, 'acme', 'COUNTER_SIGNED', null]]);
    // a counter-signature of someone else is no consent
    expect(kinds([picked, ev('HANDOFF', 'hub', 2, 'hub', 'rival')])[1]).toEqual([1, 'acme', null, null]);
  });

  it('a delegation to the receiver by the carrier or by the releasing custodian covers it; by anyone else, or revoked, expired, for another delegate or shipment, it does not', () => {
    const events = [ev('PICKED_UP', 'acme', 1, 'acme'), ev('HANDOFF', 'hub', 2, 'acme'), ev('HANDOFF', 'rival', 3, 'rival')];
    const last = (ds: ChainDelegation[]) => replayTransfers(events, SHIPMENT, ds)[2];
    expect(last([delegation({ delegate: 'rival' })]).consent).toEqual({ kind: 'DELEGATION', delegationId: '0xd1' });
    expect(last([delegation({ delegate: 'rival', delegatorId: 'hub' })]).consent).toEqual({ kind: 'DELEGATION', delegationId: '0xd1' });
    expect(last([delegation({ delegate: 'rival', delegatorId: 'shop' })]).consent).toBeNull();
    expect(last([delegation({ delegate: 'hub' })]).consent).toBeNull();
    expect(last([delegation({ delegate: 'rival', trackingNumber: 'T-2' })]).consent).toBeNull();
    expect(last([delegation({ delegate: 'rival', carrier: 'other' })]).consent).toBeNull();
    const revoked = last([delegation({ delegate: 'rival', revokedAt: 3n * 3_600_000n })]);
    expect(revoked).toMatchObject({ consent: null, problem: expect.stringContaining('revoked') });
    expect(last([delegation({ delegate: 'rival', validUntil: 3n * 3_600_000n })]).problem).toContain('expired');
    expect(last([delegation({ delegate: 'rival', keyRevokedAt: 3n * 3_600_000n })]).problem).toContain('key');
  });

  it('prefers the delegation the ledger names when several cover the transfer', () => {
    const events = [ev('PICKED_UP', 'acme', 1, 'acme'), ev('HANDOFF', 'hub', 2, 'hub')];
    const two = [delegation({ delegationId: '0xd1' }), delegation({ delegationId: '0xd2' })];
    expect(kinds(events, two)[1]).toEqual([1, 'acme', 'DELEGATION', '0xd1']);
    expect(kinds(events, two, () => '0xd2')[1]).toEqual([1, 'acme', 'DELEGATION', '0xd2']);
  });

  it('judges each transfer against the timeline as it stood when it arrived: a late HANDOFF into the past does not change who released a later one', () => {
    // acme hands to hub at 3 h (acme signs); then a late scan: acme handed to rival at 2 h (acme signs)
    const events = [ev('PICKED_UP', 'acme', 1, 'acme'), ev('HANDOFF', 'hub', 3, 'acme'), ev('HANDOFF', 'rival', 2, 'acme')];
    // the later one was judged while acme held the parcel; on the whole timeline rival held it then: a broken link, not a consented one
    expect(kinds(events)).toEqual([[0, 'shop', 'DESIGNATED', null], [1, 'rival', null, null], [2, 'acme', 'SIGNED', null]]);
  });

  it('judges a transfer when it arrived, so a later correction does not excuse a missing consent; custody does not pass through a corrected transfer', () => {
    const wrong = ev('HANDOFF', 'rival', 2, 'rival');
    const events = [ev('PICKED_UP', 'acme', 1, 'acme'), wrong, ev('CORRECTION', 'rival', 2.5, 'acme', null, wrong.eventId), ev('HANDOFF', 'hub', 3, 'acme')];
    expect(kinds(events)).toEqual([[0, 'shop', 'DESIGNATED', null], [1, 'acme', null, null], [3, 'acme', 'SIGNED', null]]);
    const signed = ev('HANDOFF', 'rival', 2, 'acme');
    expect(kinds([ev('PICKED_UP', 'acme', 1, 'acme'), signed, ev('CORRECTION', 'rival', 2.5, 'acme', null, signed.eventId), ev('HANDOFF', 'hub', 3, 'acme')])).toEqual([
      [0, 'shop', 'DESIGNATED', null],
      [1, 'acme', 'SIGNED', null],
      [3, 'acme', 'SIGNED', null],
    ]);
  });

  it('a keep event naming another custodian than the holder moved custody without a transfer', () => {
    const found = replayTransfers([ev('PICKED_UP', 'acme', 1, 'acme'), ev('ARRIVED_AT_FACILITY', 'rival', 2, 'rival')], SHIPMENT, []);
    expect(found[1]).toMatchObject({ eventIndex: 1, from: 'acme', consent: null, keepMismatch: true, problem: expect.stringContaining('custody moved without a transfer') });
  });

  it('ignores event types the custody rules do not know (ingestion never accepted them), without throwing, also for names of Object.prototype', () => {
    expect(kinds([ev('PICKED_UP', 'acme', 1, 'acme'), ev('constructor', 'rival', 2, 'rival'), ev('TELEPORTED', 'rival', 3, 'rival')])).toEqual([[0, 'shop', 'DESIGNATED', null]]);
  });
});

describe('consentedHolder: did the organization that signed the delivery receive custody with consent?', () => {
  const link = (eventIndex: number, eventType: string, from: string | null, to: string, hour: number, status: CustodyLink['status'] = 'CONSENTED'): CustodyLink => ({
    eventIndex, eventId: `0x${eventIndex}`, eventType, occurredAt: String(hour * 3_600_000), from, to, signer: to, counterSigner: null, consent: status === 'CONSENTED' ? 'SIGNED' : null, delegationId: null, status, problem: null,
  });
  const at = (h: number): bigint => BigInt(h * 3_600_000);

  it('follows consented transfers from the pick-up to the delivering organization', () => {
    const chain = [link(0, 'PICKED_UP', 'shop', 'acme', 1), link(1, 'HANDOFF', 'acme', 'hub', 2)];
    expect(consentedHolder(chain, [], SHIPMENT, 'hub', at(5))).toMatchObject({ kind: 'CONSENTED', holder: 'hub' });
    // the delivery is judged at its time: a later transfer does not count
    expect(consentedHolder(chain, [], SHIPMENT, 'acme', at(1.5))).toMatchObject({ kind: 'CONSENTED', holder: 'acme' });
  });

  it('a transfer without consent moves nothing: custody stays with its holder, and nobody after it received custody with consent', () => {
    const chain = [link(0, 'PICKED_UP', 'shop', 'acme', 1), link(2, 'HANDOFF', 'acme', 'rival', 2, 'NOT_CONSENTED'), link(3, 'HANDOFF', 'rival', 'fence', 3)];
    // the unconsented transfer moves nothing: acme still holds it, so neither the rival nor whoever the rival "passed" it to received custody
    expect(consentedHolder(chain, [], SHIPMENT, 'fence', at(5))).toEqual({ kind: 'NOT_HOLDER', holder: 'acme' });
    expect(consentedHolder(chain, [], SHIPMENT, 'rival', at(5))).toMatchObject({ kind: 'NOT_CONSENTED', link: { eventIndex: 2 } });
    expect(consentedHolder(chain, [], SHIPMENT, 'acme', at(5))).toMatchObject({ kind: 'CONSENTED', holder: 'acme' });
    expect(consentedHolder([chain[0], link(2, 'HANDOFF', 'acme', 'rival', 2, 'UNPROVEN')], [], SHIPMENT, 'rival', at(5))).toMatchObject({ kind: 'UNPROVEN' });
  });

  it('a delivery signed by someone the consented chain never reached is not held', () => {
    expect(consentedHolder([link(0, 'PICKED_UP', 'shop', 'acme', 1)], [], SHIPMENT, 'rival', at(5))).toEqual({ kind: 'NOT_HOLDER', holder: 'acme' });
  });

  it('a carrier that created the label holds the parcel from the start, without any transfer', () => {
    const events = [ev('LABEL_CREATED', 'acme', 0.5, 'acme'), ev('DELIVERED', 'acme', 4, 'acme')];
    expect(consentedHolder([], events, SHIPMENT, 'acme', at(5))).toMatchObject({ kind: 'CONSENTED', holder: 'acme' });
    expect(consentedHolder([], [ev('ARRIVED_AT_FACILITY', 'acme', 1, 'acme')], SHIPMENT, 'acme', at(5))).toEqual({ kind: 'NOT_HOLDER', holder: null });
  });
});
