import { Inject } from '@nestjs/common';
import { Field, ObjectType, Query, Resolver } from '@nestjs/graphql';
import { RUNTIME, type Runtime } from '../common/runtime';
import { signingSpec } from './custody-signing';
import { Public } from '../auth/decorators';

@ObjectType()
export class Eip712Field {
  @Field() name: string;
  @Field() type: string;
}

@ObjectType()
export class Eip712Type {
  @Field() name: string;
  @Field(() => [Eip712Field]) fields: Eip712Field[];
}

@ObjectType()
export class SigningDomain {
  @Field() name: string;
  @Field() version: string;
  @Field({ description: 'decimal chain id of the anchor chain' }) chainId: string;
  @Field({ description: 'the CustodyAnchor contract address' }) verifyingContract: string;
}

@ObjectType({ description: 'What a device needs to sign a CustodyEvent with any EIP-712 library.' })
export class CustodySigningSpec {
  @Field({ description: 'protocol version, e.g. custody-signing/1' }) version: string;
  @Field() primaryType: string;
  @Field(() => SigningDomain) domain: SigningDomain;
  @Field(() => [Eip712Type], { description: 'EIP712Domain and CustodyEvent' }) types: Eip712Type[];
  @Field({ description: 'domain, types and primaryType as one JSON document (eth_signTypedData_v4 shape, without message)' }) typedDataJson: string;
}

@Resolver(() => CustodySigningSpec)
export class SigningSpecResolver {
  constructor(@Inject(RUNTIME) private readonly runtime: Runtime) {}

  @Query(() => CustodySigningSpec, { description: 'Public: devices need it before they have anything else.' })
  @Public()
  custodySigningSpec(): CustodySigningSpec {
    const spec = signingSpec(this.runtime.domain);
    const domain = { ...spec.domain, chainId: spec.domain.chainId.toString() };
    return {
      version: spec.version,
      primaryType: spec.primaryType,
      domain,
      types: Object.entries(spec.types).map(([name, fields]) => ({ name, fields: fields.map((f) => ({ name: f.name, type: f.type })) })),
      typedDataJson: JSON.stringify({ types: spec.types, primaryType: spec.primaryType, domain: { ...domain, chainId: Number(spec.domain.chainId) } }),
    };
  }
}
