import { Inject } from '@nestjs/common';
import { Args, Query, Resolver } from '@nestjs/graphql';
import { JsonScalar } from '../common/json.scalar';
import { Caller, Public, Roles } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { RUNTIME, type Runtime } from '../common/runtime';
import { verifyProofBundle } from './bundle-verifier';
import type { ProofBundleV2 } from './pod-bundle';
import type { TrustFile } from './trust-root';
import { TrustRootService } from './trust-root.service';
import { ProofBundleService } from './proof-bundle.service';
import { VerificationReportModel } from './verification.model';

@Resolver()
export class ProofOfDeliveryResolver {
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly bundles: ProofBundleService,
    private readonly trust: TrustRootService,
  ) {}

  @Query(() => JsonScalar, { description: 'Public: the custody-trust/1 file a verifier pins (chain id, CustodyAnchor address, first batch seq, deployment block); also at GET /trust.json. Save it once; `custody verify --trust` refuses bundles anchored anywhere else.' })
  @Public()
  async trustRoot(): Promise<TrustFile> {
    return this.trust.trustFile();
  }

  @Query(() => JsonScalar, { description: 'The shipment as a self-contained, versioned custody-pod/2 proof bundle, with state proofs against the latest anchored state (also at GET /proofs/<carrier>/<trackingNumber>.json).' })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async proofOfDelivery(@Args('trackingNumber') trackingNumber: string, @Args('carrier') carrier: string, @Caller() caller: Principal): Promise<ProofBundleV2> {
    return this.bundles.build(trackingNumber, carrier, caller);
  }

  @Query(() => VerificationReportModel, { description: "Checks any custody-pod/1 or /2 bundle against the anchor chain, exactly as the standalone verifier (`custody verify --trust`) does, through this service's chain node, with this service's own contract pinned as the trust root." })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async verifyProofBundle(
    @Args('bundle', { type: () => JsonScalar }) bundle: unknown,
    @Args('previous', { type: () => JsonScalar, nullable: true, description: 'an earlier bundle of the same shipment: its state must not be contradicted by this one’s (as `custody verify --previous`)' }) previous?: unknown,
  ): Promise<VerificationReportModel> {
    return verifyProofBundle(bundle, { provider: this.runtime.chain.provider, trust: await this.trust.trustFile(), ...(previous != null ? { previous } : {}) });
  }
}
