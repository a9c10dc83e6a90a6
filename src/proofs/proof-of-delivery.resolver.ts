import { Inject } from '@nestjs/common';
import { Args, Query, Resolver } from '@nestjs/graphql';
import { JsonScalar } from '../common/json.scalar';
import { Caller, Roles } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { RUNTIME, type Runtime } from '../common/runtime';
import { verifyProofBundle } from './bundle-verifier';
import type { ProofBundle } from './pod-bundle';
import { ProofBundleService } from './proof-bundle.service';
import { VerificationReportModel } from './verification.model';

@Resolver()
export class ProofOfDeliveryResolver {
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly bundles: ProofBundleService,
  ) {}

  @Query(() => JsonScalar, { description: 'The shipment as a self-contained, versioned custody-pod/1 proof bundle (also at GET /proofs/<carrier>/<trackingNumber>.json).' })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async proofOfDelivery(@Args('trackingNumber') trackingNumber: string, @Args('carrier') carrier: string, @Caller() caller: Principal): Promise<ProofBundle> {
    return this.bundles.build(trackingNumber, carrier, caller);
  }

  @Query(() => VerificationReportModel, { description: "Checks any custody-pod/1 bundle against the anchor chain, exactly as the standalone verifier (`custody verify`) does, through this service's chain node." })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async verifyProofBundle(@Args('bundle', { type: () => JsonScalar }) bundle: unknown): Promise<VerificationReportModel> {
    return verifyProofBundle(bundle, { provider: this.runtime.chain.provider });
  }
}
