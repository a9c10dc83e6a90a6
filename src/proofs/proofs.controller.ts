import { Controller, Get, Header, HttpException, HttpStatus, Param } from '@nestjs/common';
import { LedgerError } from '../common/errors';
import { ProofBundleService } from './proof-bundle.service';
import type { ProofBundle } from './pod-bundle';

/** The bundle as a file, for people who do not speak GraphQL. */
@Controller('proofs')
export class ProofsController {
  constructor(private readonly bundles: ProofBundleService) {}

  @Get(':carrier/:file')
  @Header('content-type', 'application/json; charset=utf-8')
  async download(@Param('carrier') carrier: string, @Param('file') file: string): Promise<ProofBundle> {
    const trackingNumber = /^(.+)\.json$/.exec(file)?.[1];
    if (!trackingNumber) throw new HttpException({ code: 'NOT_FOUND', message: 'ask for /proofs/<carrier>/<trackingNumber>.json' }, HttpStatus.NOT_FOUND);
    try {
      return await this.bundles.build(trackingNumber, carrier);
    } catch (err) {
      if (err instanceof LedgerError) throw new HttpException({ code: err.code, message: err.message }, err.code === 'NOT_FOUND' ? HttpStatus.NOT_FOUND : HttpStatus.BAD_REQUEST);
      throw err;
    }
  }
}
