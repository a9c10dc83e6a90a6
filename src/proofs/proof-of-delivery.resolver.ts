import { Inject } from '@nestjs/common';
import { Args, Query, Resolver } from '@nestjs/graphql';
import { JsonScalar } from '../common/json.scalar';
import { Caller, Public, Roles } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { RUNTIME, type Runtime } from '../common/runtime';
import { verifyProofBundle } from './bundle-verifier';
import { LedgerError } from '../common/errors';
import type { ProofBundleV2, ProofBundleV3 } from './pod-bundle';
import type { TrustFile } from './trust-root';
import { TrustRootService } from './trust-root.service';
import { ProofBundleService, WRITTEN_POD_FORMATS, type WrittenPodFormat } from './proof-bundle.service';
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

  @Query(() => JsonScalar, { description: 'The shipment as a self-contained, versioned custody-pod/3 proof bundle (events, their consent and the delegations they rely on), with state proofs against the latest anchored state (also at GET /proofs/<carrier>/<trackingNumber>.json).' })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async proofOfDelivery(
    @Args('trackingNumber') trackingNumber: string,
    @Args('carrier') carrier: string,
    @Caller() caller: Principal,
    @Args('format', { type: () => String, nullable: true, description: '"custody-pod/3" (default) or "custody-pod/2" for verifiers that do not know /3 yet (no consent data: consent is then not proven)' }) format?: string | null,
  ): Promise<ProofBundleV2 | ProofBundleV3> {
    const written = podFormat(format);
    return this.runtime.reads.run(caller, (db) => this.bundles.build(trackingNumber, carrier, caller, written, db));
  }

  @Query(() => VerificationReportModel, { description: "Checks any custody-pod/1, /2 or /3 bundle against the anchor chain, exactly as the standalone verifier (`custody verify --trust`) does, through this service's chain node, with this service's own contract pinned as the trust root." })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async verifyProofBundle(
    @Args('bundle', { type: () => JsonScalar }) bundle: unknown,
    @Args('previous', { type: () => JsonScalar, nullable: true, description: 'an earlier bundle of the same shipment: its state must not be contradicted by this one’s (as `custody verify --previous`)' }) previous?: unknown,
  ): Promise<VerificationReportModel> {
    return verifyProofBundle(bundle, { provider: this.runtime.chain.provider, trust: await this.trust.trustFile(), ...(previous != null ? { previous } : {}) });
  }
}

/** The bundle format asked for; /3 when none is. */
export function podFormat(format: string | null | undefined): WrittenPodFormat {
  if (format == null || format === '') return WRITTEN_POD_FORMATS[0];
  const found = WRITTEN_POD_FORMATS.find((f) => f === format);
  if (!found) throw new LedgerError('VALIDATION_FAILED', `format must be one of ${WRITTEN_POD_FORMATS.join(', ')}`, 'format');
  return found;
}
