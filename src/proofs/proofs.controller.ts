import { Controller, Get, Header, HttpException, HttpStatus, Param } from '@nestjs/common';
import { toHttp } from '../common/http-errors';
import { Caller, Roles } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { ProofBundleService } from './proof-bundle.service';
import type { ProofBundle } from './pod-bundle';

/** The bundle as a file, for people who do not speak GraphQL. */
@Controller('proofs')
export class ProofsController {
  constructor(private readonly bundles: ProofBundleService) {}

  @Get(':carrier/:file')
  @Header('content-type', 'application/json; charset=utf-8')
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async download(@Param('carrier') carrier: string, @Param('file') file: string, @Caller() caller: Principal): Promise<ProofBundle> {
    const trackingNumber = /^(.+)\.json$/.exec(file)?.[1];
    if (!trackingNumber) throw new HttpException({ code: 'NOT_FOUND', message: 'ask for /proofs/<carrier>/<trackingNumber>.json' }, HttpStatus.NOT_FOUND);
    try {
      return await this.bundles.build(trackingNumber, carrier, caller);
    } catch (err) {
      throw toHttp(err);
    }
  }
}
