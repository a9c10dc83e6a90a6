import { Controller, Get, Inject, Res } from '@nestjs/common';
import { Public } from '../auth/decorators';
import { RUNTIME, type Runtime } from '../common/runtime';
import { pagesCsp, publicRpcUrl, webIndexHtml, type SiteSettings } from './web-pages';

interface HttpResponse {
  status(code: number): HttpResponse;
  setHeader(name: string, value: string): void;
  redirect(status: number, url: string): void;
  end(body?: string): void;
}

/**
 * The web pages (web/, built by Vite into web/dist): every page path answers the same
 * index.html and the Preact app routes in the browser. The files under /assets/ are served by
 * express.static in bootstrap.ts, before the rate limit. What a page shows comes from GraphQL
 * with the visitor's API key, or from GET /api/track/<token>: nothing is rendered here.
 */
@Controller()
export class WebController {
  constructor(@Inject(RUNTIME) private readonly runtime: Runtime) {}

  @Get()
  @Public()
  root(@Res() res: HttpResponse): void {
    res.redirect(302, '/app/');
  }

  @Get(['t/:token', 'app', 'app/*path'])
  @Public()
  page(@Res() res: HttpResponse): void {
    const html = webIndexHtml();
    res.setHeader('cache-control', 'no-store');
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-frame-options', 'DENY');
    if (!html) {
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      res.status(503).end('The web pages are not built: run `npm run build:web` (npm ci builds them).\n');
      return;
    }
    res.setHeader('content-security-policy', pagesCsp(this.runtime.config, this.site().publicRpcUrl));
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.status(200).end(html);
  }

  @Get('api/site')
  @Public()
  settings(@Res() res: HttpResponse): void {
    res.setHeader('cache-control', 'no-store');
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.status(200).end(JSON.stringify(this.site()));
  }

  private site(): SiteSettings {
    const { config, chain } = this.runtime;
    return {
      mapTiles: config.mapTiles,
      explorerTxUrl: config.blockExplorerTxUrl,
      publicRpcUrl: publicRpcUrl(this.runtime),
      chainId: chain.chainId.toString(),
      contractAddress: chain.contractAddress,
    };
  }
}
