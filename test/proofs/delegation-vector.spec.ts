import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AbiCoder, TypedDataEncoder, keccak256, verifyTypedData } from 'ethers';
import { delegationVectorText, type DelegationVector } from '../../scripts/generate-delegation-vector';
import { custodySigningDomain, domainSeparator } from '../../src/signing/custody-signing';
import { CUSTODY_DELEGATION_TYPES, delegationCovers, delegationDigest, delegationFromJson } from '../../src/signing/delegation-signing';
import { delegationStateKey, delegationStateValue } from '../../src/state/custody-state';

const VECTOR = path.resolve(__dirname, '../vectors/custody-delegation-v1.json');
const vector = (): DelegationVector => JSON.parse(readFileSync(VECTOR, 'utf8')) as DelegationVector;
const abi = AbiCoder.defaultAbiCoder();

describe('custody-delegation/1 test vector', () => {
  it('regenerates byte for byte from scripts/generate-delegation-vector.ts', async () => {
    expect(await delegationVectorText()).toBe(readFileSync(VECTOR, 'utf8'));
  });

  it('pins the spec: primary type, field order and types, the state tag, under the signing domain of custody events', () => {
    const v = vector();
    expect(v).toMatchObject({ version: 'custody-delegation/1', primaryType: 'CustodyDelegation', stateTag: 'custody-state/1:delegation' });
    expect(v.types).toEqual(CUSTODY_DELEGATION_TYPES);
    expect(v.types.CustodyDelegation.map((f) => `${f.type} ${f.name}`)).toEqual(['bytes32 delegationId', 'string delegator', 'string delegate', 'string carrier', 'string trackingNumber', 'uint64 validFrom', 'uint64 validUntil']);
    const domain = custodySigningDomain(BigInt(v.domain.chainId), v.domain.verifyingContract);
    expect(domainSeparator(domain)).toBe(v.domainSeparator);
    expect(TypedDataEncoder.hashDomain(domain)).toBe(v.domainSeparator);
    expect(v.cases).toHaveLength(2);
  });

  it.each([0, 1])('case %i: struct hash and digest by our code and by ethers’ TypedDataEncoder, its signature recovers to the carrier key', (i) => {
    const v = vector();
    const c = v.cases[i];
    const domain = custodySigningDomain(BigInt(v.domain.chainId), v.domain.verifyingContract);
    const fields = delegationFromJson(c.delegation);
    expect(TypedDataEncoder.from(v.types).hash(fields)).toBe(c.structHash);
    expect(TypedDataEncoder.hash(domain, v.types, fields)).toBe(c.digest);
    expect(delegationDigest(v.domainSeparator, fields)).toBe(c.digest);
    expect(verifyTypedData(domain, v.types, fields, c.signature).toLowerCase()).toBe(c.signer);
    // any changed value is another statement
    expect(delegationDigest(v.domainSeparator, { ...fields, delegate: `${fields.delegate}x` })).not.toBe(c.digest);
    expect(delegationDigest(v.domainSeparator, { ...fields, validUntil: fields.validUntil - 1n })).not.toBe(c.digest);
  });

  it.each([0, 1])('case %i: its custody-state/1 record, by our encoder and by ethers’ AbiCoder', (i) => {
    const c = vector().cases[i];
    expect(delegationStateKey(c.delegation.delegationId)).toBe(c.state.key);
    expect(keccak256(abi.encode(['string', 'bytes32'], ['custody-state/1:delegation', c.delegation.delegationId]))).toBe(c.state.key);
    expect(delegationStateValue(c.digest, null)).toBe(c.state.value);
    expect(keccak256(abi.encode(['bytes32', 'uint64'], [c.digest, 0n]))).toBe(c.state.value);
    expect(delegationStateValue(c.digest, c.state.revokedAtMs)).toBe(c.state.valueRevoked);
    expect(keccak256(abi.encode(['bytes32', 'uint64'], [c.digest, BigInt(c.state.revokedAtMs)]))).toBe(c.state.valueRevoked);
    expect(c.state.valueRevoked).not.toBe(c.state.value);
  });

  it('covers what it names: every shipment of the carrier ("") or one tracking number, from validFrom up to (not including) validUntil', () => {
    const [all, one] = vector().cases.map((c) => delegationFromJson(c.delegation));
    expect(delegationCovers(all, 'berlin-hub', 'acme-express', 'ANY-1', all.validFrom)).toBe(true);
    expect(delegationCovers(all, 'berlin-hub', 'acme-express', 'ANY-1', all.validUntil)).toBe(false);
    expect(delegationCovers(all, 'rival-post', 'acme-express', 'ANY-1', all.validFrom)).toBe(false);
    expect(delegationCovers(one, one.delegate, 'acme-express', '1Z999AA10123456784', 5n)).toBe(true);
    expect(delegationCovers(one, one.delegate, 'acme-express', '1Z999AA10123456785', 5n)).toBe(false);
  });
});
