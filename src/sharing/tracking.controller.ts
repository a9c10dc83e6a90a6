import { Controller, Get, Param, Res } from '@nestjs/common';
import { Public } from '../auth/decorators';
import { LedgerError } from '../common/errors';
import { toHttp } from '../common/http-errors';
import { TrackingViewService } from './tracking-view.service';

/** The parts of Express' response used here (express 5 ships no types). */
interface HttpResponse {
  status(code: number): HttpResponse;
  setHeader(name: string, value: string): void;
  end(body?: string): void;
}

/**
 * The public tracking page's JSON: no API key, the token is the credential. Every answer, errors
 * included, is uncacheable, sends no referrer on (the token is in the page's URL) and asks search
 * engines not to index. The rate limit (rate-limit.middleware.ts) counts anonymous callers by address.
 */
@Controller()
export class TrackingController {
  constructor(private readonly views: TrackingViewService) {}

  @Get('api/track/:token')
  @Public()
  async track(@Param('token') token: string, @Res() res: HttpResponse): Promise<void> {
    res.setHeader('cache-control', 'no-store');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-robots-tag', 'noindex');
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('content-type', 'application/json; charset=utf-8');
    try {
      res.status(200).end(JSON.stringify(await this.views.view(token)));
    } catch (err) {
      if (err instanceof LedgerError && err.code === 'SHARE_LINK_NOT_FOUND') {
        res.status(404).end(JSON.stringify({ errors: [{ message: err.message, extensions: { code: err.code } }] }));
        return;
      }
      throw toHttp(err);
    }
  }
}
