import { createHash } from 'node:crypto';
import { Controller, Get, Header, HttpException, HttpStatus, Inject, Param, Query, Req, Res } from '@nestjs/common';
import { RUNTIME, type Runtime } from '../common/runtime';
import { toHttp } from '../common/http-errors';
import { Caller, Public, Roles } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { ProofBundleService } from './proof-bundle.service';
import type { ProofBundleV2, ProofBundleV3 } from './pod-bundle';
import { podFormat } from './proof-of-delivery.resolver';
import type { TrustFile } from './trust-root';
import { TrustRootService } from './trust-root.service';
import { ProofsResolver } from './proofs.resolver';
import type { InclusionProof } from './inclusion-proof.model';

/** The parts of Express' request and response used here (express 5 ships no types). */
interface HttpRequest {
  headers: Record<string, string | string[] | undefined>;
}
interface HttpResponse {
  status(code: number): HttpResponse;
  setHeader(name: string, value: string): void;
  end(body?: string): void;
}

/** The bundle as a file, for people who do not speak GraphQL (`?format=custody-pod/2` for the previous format). */
@Controller()
export class ProofsController {
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly bundles: ProofBundleService,
    private readonly trust: TrustRootService,
    private readonly proofs: ProofsResolver,
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

  /**
   * One event's inclusion proof as JSON (the fields of the GraphQL inclusionProof, batchSeq as a
   * decimal string), for HTTP caches. With PROOF_HTTP_CACHE_SECONDS > 0 a proof whose batch is
   * FINAL (past the confirmation depth: it no longer changes) is sent with
   * `Cache-Control: private, max-age=<that>` and a strong ETag, and an If-None-Match that matches
   * is answered 304 without a body. `private`: what a caller sees depends on its key (another
   * tenant's event is NOT_FOUND), so no shared cache may keep it. Anything not FINAL (pending,
   * batched, anchored but not yet confirmed), every error, and every answer while the setting
   * is 0 (the default) carry `Cache-Control: no-store`.
   */
  @Get('inclusion-proofs/:eventId')
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async inclusionProof(@Param('eventId') eventId: string, @Caller() caller: Principal, @Req() req: HttpRequest, @Res() res: HttpResponse): Promise<void> {
    res.setHeader('cache-control', 'no-store');
    let proof: InclusionProof;
    try {
      proof = await this.proofs.inclusionProof(eventId, caller);
    } catch (err) {
      throw toHttp(err);
    }
    const body = JSON.stringify({ ...proof, batchSeq: proof.batchSeq === null ? null : proof.batchSeq.toString() });
    res.setHeader('content-type', 'application/json; charset=utf-8');
    const maxAge = this.runtime.config.proofHttpCacheSeconds;
    if (maxAge > 0 && proof.status === 'FINAL') {
      const etag = `"${createHash('sha256').update(body).digest('base64url')}"`;
      res.setHeader('cache-control', `private, max-age=${maxAge}`);
      res.setHeader('etag', etag);
      res.setHeader('vary', 'Authorization');
      const asked = req.headers['if-none-match'];
      if (typeof asked === 'string' && asked.split(/\s*,\s*/).some((tag) => tag === etag || tag === `W/${etag}` || tag === '*')) {
        res.status(304).end();
        return;
      }
    }
    res.status(200).end(body);
  }
}
