import { Wallet, hexlify, randomBytes } from 'ethers';
import { CUSTODY_DELEGATION_TYPES, type DelegationFields } from '../../src/signing/delegation-signing';
import {
  CUSTODY_EVENT_TYPES,
  ZERO_HASH,
  type CustodyEventFields,
  type CustodyEventJson,
  type CustodySigningDomain,
} from '../../src/signing/custody-signing';
import type { TestLedger } from './test-ledger';

export type SignedEventInput = CustodyEventJson & { signature: string; counterSignature?: string | null };

export const RECORD = `mutation Record($events: [SignedCustodyEventInput!]!) {
  recordCustodyEvents(events: $events) { index eventId outcome receipt { eventId digest leaf previousLeaf status receivedAt } error { code message field } }
}`;

export interface RecordResult {
  index: number;
  eventId: string | null;
  outcome: 'ACCEPTED' | 'DUPLICATE' | 'REJECTED';
  receipt: { eventId: string; digest: string; leaf: string; previousLeaf: string; status: string; receivedAt: string } | null;
  error: { code: string; message: string; field: string | null } | null;
}

export const newEventId = (): string => hexlify(randomBytes(32));

/** The signing domain exactly as the service publishes it. */
export async function fetchDomain(t: TestLedger): Promise<CustodySigningDomain> {
  const res = await t.gql<{ custodySigningSpec: { domain: { name: string; version: string; chainId: string; verifyingContract: string } } }>(
    `{ custodySigningSpec { domain { name version chainId verifyingContract } } }`,
  );
  const d = res.data!.custodySigningSpec.domain;
  return { ...d, chainId: BigInt(d.chainId) };
}

export function eventFields(overrides: Partial<CustodyEventFields> & Pick<CustodyEventFields, 'trackingNumber' | 'carrier' | 'eventType' | 'custodian'>): CustodyEventFields {
  return {
    eventId: newEventId(),
    occurredAt: BigInt(Date.now() - 60_000),
    latE6: 52_520_008,
    lonE6: 13_404_954,
    accuracyM: 10,
    locationCode: '',
    scanMethod: 'BARCODE',
    evidenceHash: ZERO_HASH,
    dataHash: ZERO_HASH,
    ...overrides,
  };
}

/** Signs like a device would: ethers' EIP-712 implementation, independent of the service. */
export async function signEvent(
  domain: CustodySigningDomain,
  signer: Wallet,
  fields: CustodyEventFields,
  counterSigner?: Wallet,
): Promise<SignedEventInput> {
  const signature = await signer.signTypedData(domain, CUSTODY_EVENT_TYPES, fields);
  const counterSignature = counterSigner ? await counterSigner.signTypedData(domain, CUSTODY_EVENT_TYPES, fields) : null;
  return { ...fields, occurredAt: fields.occurredAt.toString(), signature, counterSignature };
}

export async function record(t: TestLedger, events: SignedEventInput[], auth: boolean | string = true): Promise<RecordResult[]> {
  const res = await t.gql<{ recordCustodyEvents: RecordResult[] }>(RECORD, { events }, auth);
  if (res.errors) throw new Error(`recordCustodyEvents failed: ${JSON.stringify(res.errors)}`);
  return res.data!.recordCustodyEvents;
}

export async function mustGql<T>(t: TestLedger, query: string, variables?: Record<string, unknown>): Promise<T> {
  const res = await t.gql<T>(query, variables);
  if (res.errors) throw new Error(`GraphQL error: ${JSON.stringify(res.errors)}`);
  return res.data!;
}

export async function registerOrganization(t: TestLedger, slug: string, kind: string, name = slug): Promise<void> {
  await mustGql(t, `mutation($i: RegisterOrganizationInput!) { registerOrganization(input: $i) { id } }`, { i: { slug, name, kind } });
}

export async function registerKey(t: TestLedger, organization: string, wallet: Wallet = newWallet(), validFrom?: Date): Promise<Wallet> {
  await mustGql(t, `mutation($i: RegisterSigningKeyInput!) { registerSigningKey(input: $i) { address } }`, {
    i: { organization, address: wallet.address, label: `${organization} device`, validFrom: (validFrom ?? new Date(Date.now() - 86_400_000)).toISOString() },
  });
  return wallet;
}

export async function createShipment(t: TestLedger, trackingNumber: string, carrier: string, merchant?: string): Promise<void> {
  await mustGql(t, `mutation($i: CreateShipmentInput!) { createShipment(input: $i) { id } }`, {
    i: { trackingNumber, carrier, merchant, destination: { latE6: 52_500_000, lonE6: 13_400_000, radiusM: 200 } },
  });
}

export const newWallet = (): Wallet => new Wallet(Wallet.createRandom().privateKey);

/** A custody-delegation/1 statement signed like a delegator's device would, as RegisterDelegationInput takes it. */
export async function delegationInput(domain: CustodySigningDomain, signer: Wallet, d: DelegationFields): Promise<Record<string, string>> {
  const signature = await signer.signTypedData(domain, CUSTODY_DELEGATION_TYPES, d);
  return { ...d, validFrom: d.validFrom.toString(), validUntil: d.validUntil.toString(), signature };
}

/** The slug of the shipment's current custodian, as the admin reads it. */
export async function currentCustodian(t: TestLedger, tracking: string, carrier: string): Promise<string | null> {
  const res = await mustGql<{ shipment: { currentCustodian: { slug: string } | null } }>(t, `query($n: String!, $c: String!) { shipment(trackingNumber: $n, carrier: $c) { currentCustodian { slug } } }`, { n: tracking, c: carrier });
  return res.shipment.currentCustodian?.slug ?? null;
}
