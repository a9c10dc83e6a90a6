/**
 * Writes test/vectors/custody-delegation-v1.json: custody-delegation/1 pinned. Fixed delegations
 * under the domain of test/vectors/signing-v1.json (chain 31337, the contract at the first address
 * Hardhat account #0 deploys to), signed by its device key (the carrier "acme-express"): their
 * EIP-712 struct hash and digest, the signature, and their custody-state/1 record (key, and the
 * value never revoked and revoked). One delegation covers every shipment of the carrier, one a
 * single tracking number with non-ASCII text, so both string paths of the encoding are pinned.
 *
 * ECDSA signatures are deterministic (RFC 6979) and nothing reads the clock or a random source: the
 * output is byte for byte reproducible; test/proofs/delegation-vector.spec.ts checks that it is, and
 * recomputes every value with ethers' own TypedDataEncoder.
 *
 * Usage: npx ts-node --transpile-only scripts/generate-delegation-vector.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TypedDataEncoder, Wallet, id } from 'ethers';
import { custodySigningDomain, domainSeparator } from '../src/signing/custody-signing';
import { CUSTODY_DELEGATION_TYPES, DELEGATION_PRIMARY_TYPE, DELEGATION_SPEC_VERSION, delegationDigest, delegationFromJson, type DelegationJson } from '../src/signing/delegation-signing';
import { DELEGATION_TAG, delegationStateKey, delegationStateValue } from '../src/state/custody-state';

const ROOT = path.join(__dirname, '..');
export const DELEGATION_VECTOR_PATH = path.join(ROOT, 'test/vectors/custody-delegation-v1.json');

export interface DelegationVectorCase {
  delegation: DelegationJson;
  structHash: string;
  digest: string;
  signer: string;
  signature: string;
  state: { key: string; value: string; revokedAtMs: string; valueRevoked: string };
}

export interface DelegationVector {
  version: string;
  note: string;
  domain: { name: string; version: string; chainId: string; verifyingContract: string };
  domainSeparator: string;
  primaryType: string;
  types: typeof CUSTODY_DELEGATION_TYPES;
  stateTag: string;
  cases: DelegationVectorCase[];
}

/** The delegations the vector pins: the carrier lets the Berlin hub take custody of all its shipments for a day, and a locker operator one parcel. */
export const VECTOR_DELEGATIONS: DelegationJson[] = [
  { delegationId: id('custody-delegation/1 vector 1'), delegator: 'acme-express', delegate: 'berlin-hub', carrier: 'acme-express', trackingNumber: '', validFrom: '1763996400000', validUntil: '1764082800000' },
  { delegationId: id('custody-delegation/1 vector 2'), delegator: 'acme-express', delegate: 'schließfach-köln', carrier: 'acme-express', trackingNumber: '1Z999AA10123456784', validFrom: '0', validUntil: '18446744073709551615' },
];

export async function buildDelegationVector(): Promise<DelegationVector> {
  const v = JSON.parse(readFileSync(path.join(ROOT, 'test/vectors/signing-v1.json'), 'utf8')) as { privateKeys: { device: string }; domain: DelegationVector['domain'] };
  const domain = custodySigningDomain(BigInt(v.domain.chainId), v.domain.verifyingContract);
  const separator = domainSeparator(domain);
  const carrier = new Wallet(v.privateKeys.device);
  const encoder = new TypedDataEncoder(CUSTODY_DELEGATION_TYPES);
  const cases: DelegationVectorCase[] = [];
  for (const delegation of VECTOR_DELEGATIONS) {
    const fields = delegationFromJson(delegation);
    const digest = delegationDigest(separator, fields);
    const signature = await carrier.signTypedData(domain, CUSTODY_DELEGATION_TYPES, fields);
    // what the contract and any other implementation must agree on: checked here against ethers before writing
    if (TypedDataEncoder.hash(domain, CUSTODY_DELEGATION_TYPES, fields) !== digest) throw new Error(`delegation ${delegation.delegationId}: our digest differs from ethers'`);
    const revokedAtMs = (BigInt(delegation.validFrom) + 3_600_000n).toString();
    cases.push({
      delegation,
      structHash: encoder.hash(fields as unknown as Record<string, unknown>),
      digest,
      signer: carrier.address.toLowerCase(),
      signature,
      state: { key: delegationStateKey(delegation.delegationId), value: delegationStateValue(digest, null), revokedAtMs, valueRevoked: delegationStateValue(digest, revokedAtMs) },
    });
  }
  return {
    version: DELEGATION_SPEC_VERSION,
    note: 'Test keys are derived from public strings. Never use them for anything real.',
    domain: v.domain,
    domainSeparator: separator,
    primaryType: DELEGATION_PRIMARY_TYPE,
    types: CUSTODY_DELEGATION_TYPES,
    stateTag: DELEGATION_TAG,
    cases,
  };
}

/** The file's exact text: what the generator writes and the test compares. */
export const delegationVectorText = async (): Promise<string> => JSON.stringify(await buildDelegationVector(), null, 2) + '\n';

if (require.main === module) {
  delegationVectorText()
    .then((text) => {
      writeFileSync(DELEGATION_VECTOR_PATH, text);
      console.log(`wrote ${DELEGATION_VECTOR_PATH}`);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
