import { Controller, Get, Header, HttpException, HttpStatus, Inject, Param, Query } from '@nestjs/common';
import { RUNTIME, type Runtime } from '../common/runtime';
import { toHttp } from '../common/http-errors';
import { Caller, Public, Roles } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { ProofBundleService } from './proof-bundle.service';
import type { ProofBundleV2, ProofBundleV3 } from './pod-bundle';
import { podFormat } from './proof-of-delivery.resolver';
import type { TrustFile } from './trust-root';
import { TrustRootService } from './trust-root.service';

/** The bundle as a file, for people who do not speak GraphQL (`?format=custody-pod/2` for the previous format). */
@Controller()
export class ProofsController {
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly bundles: ProofBundleService,
    private readonly trust: TrustRootService,
  ) {}

  /** Public: the trust root a verifier pins (`custody verify --trust trust.json`). */
  @Get('trust.json')
  @Header('content-type', 'application/json; charset=utf-8')
  @Public()
  async trustFile(): Promise<TrustFile> {
    return this.trust.trustFile();
  }

  @Get('proofs/:carrier/:file')
  @Header('content-type', 'application/json; charset=utf-8')
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async download(@Param('carrier') carrier: string, @Param('file') file: string, @Caller() caller: Principal, @Query('format') format?: string): Promise<ProofBundleV2 | ProofBundleV3> {
    const trackingNumber = /^(.+)\.json$/.exec(file)?.[1];
    if (!trackingNumber) throw new HttpException({ code: 'NOT_FOUND', message: 'ask for /proofs/<carrier>/<trackingNumber>.json' }, HttpStatus.NOT_FOUND);
    try {
      const written = podFormat(format);
      return await this.runtime.reads.run(caller, (db) => this.bundles.build(trackingNumber, carrier, caller, written, db));
    } catch (err) {
      throw toHttp(err);
    }
  }
}
