import { Wallet } from 'ethers';
import {
  custodyEventDigest,
  custodyLeaf,
  custodySigningDomain,
  custodyStructHash,
  domainSeparator,
  reference,
  signaturesHash,
  type CustodyEventFields,
} from '../../src/signing/custody-signing';
import { keccakLoaded, keccakReady } from '../../src/signing/keccak';

/**
 * Attack on the fast hashing path (issue 11 review): its input checks are regular expressions, and
 * RegExp.test converts what it is given to a string. A non-string that prints as valid hex (an array
 * holding the hex, a String object) passed the check, and the fast path then hashed the EMPTY byte
 * string in its place (Array#slice on an array, Buffer.from of an array ignores 'hex'): every such
 * "signature" got the same signaturesHash, keccak256(""), and a leaf lost its previousLeaf from the
 * hash. An empty domain separator matched the separator cache's initial entry and gave a digest
 * with no domain at all. ethers, the reference, refuses all of these. Today's callers validate
 * their inputs first, so this is the exported functions' contract (same bytes as ethers, or
 * ethers' error), not a reachable forgery; it must hold anyway, since any new caller (a bundle
 * field, a JSON body) would turn it into two different inputs sharing one hash.
 */
const d = '0x' + '11'.repeat(32);
const s = '0x' + '22'.repeat(32);
const p = '0x' + '33'.repeat(32);
const sig = '0x' + 'ab'.repeat(65);
const event: CustodyEventFields = {
  eventId: d,
  trackingNumber: 'TRK1',
  carrier: 'acme',
  eventType: 'PICKUP',
  custodian: 'acme',
  occurredAt: 1_700_000_000_000n,
  latE6: 1,
  lonE6: -1,
  accuracyM: 5,
  locationCode: 'HUB',
  scanMethod: 'QR',
  evidenceHash: s,
  dataHash: p,
};
const separator = domainSeparator(custodySigningDomain(31337n, Wallet.createRandom().address));

beforeAll(async () => {
  await keccakReady;
  expect(keccakLoaded()).toBe(true);
});

/** The fast function gives the reference's bytes, or throws where the reference throws. */
function sameAsReference(fast: () => string, ref: () => string): void {
  let expected: string | Error;
  try {
    expected = ref();
  } catch (err) {
    expected = err as Error;
  }
  if (expected instanceof Error) expect(fast).toThrow();
  else expect(fast()).toBe(expected);
}

describe('fast hashing refuses non-string hex exactly as ethers does', () => {
  it('signaturesHash: two different signatures wrapped in arrays must not share keccak256("")', () => {
    const other = '0x' + 'cd'.repeat(65);
    sameAsReference(() => signaturesHash([sig] as unknown as string), () => reference.signaturesHash([sig] as unknown as string));
    sameAsReference(() => signaturesHash(sig, [other] as unknown as string), () => reference.signaturesHash(sig, [other] as unknown as string));
    sameAsReference(() => signaturesHash(new String(sig) as unknown as string), () => reference.signaturesHash(new String(sig) as unknown as string));
  });

  it('custodyLeaf: a previous leaf (or digest, or signatures hash) in an array must not drop out of the leaf', () => {
    sameAsReference(() => custodyLeaf(d, s, [p] as unknown as string), () => reference.custodyLeaf(d, s, [p] as unknown as string));
    sameAsReference(() => custodyLeaf([d] as unknown as string, s, p), () => reference.custodyLeaf([d] as unknown as string, s, p));
    sameAsReference(() => custodyLeaf(d, new String(s) as unknown as string, p), () => reference.custodyLeaf(d, new String(s) as unknown as string, p));
  });

  it('custodyEventDigest: an empty domain separator must not give a digest without a domain', () => {
    sameAsReference(() => custodyEventDigest('', event), () => reference.custodyEventDigest('', event));
    sameAsReference(() => custodyEventDigest([separator] as unknown as string, event), () => reference.custodyEventDigest([separator] as unknown as string, event));
    // and the cache still gives the right separator afterwards
    expect(custodyEventDigest(separator, event)).toBe(reference.custodyEventDigest(separator, event));
  });

  it('custodyStructHash / digest: hex fields in arrays or String objects are refused, not hashed as other bytes', () => {
    for (const field of ['eventId', 'evidenceHash', 'dataHash'] as const) {
      for (const wrapped of [[event[field]], new String(event[field])]) {
        const bad = { ...event, [field]: wrapped } as unknown as CustodyEventFields;
        sameAsReference(() => custodyStructHash(bad), () => reference.custodyStructHash(bad));
        sameAsReference(() => custodyEventDigest(separator, bad), () => reference.custodyEventDigest(separator, bad));
      }
    }
    expect(custodyEventDigest(separator, event)).toBe(reference.custodyEventDigest(separator, event));
  });
});
