import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { AppConfig } from '../config/config';
import type { Runtime } from '../common/runtime';

/** Where Vite builds the pages (`npm run build:web`, run by `npm ci` through `prepare`). */
export const WEB_DIST = path.resolve(__dirname, '..', '..', 'web', 'dist');
/** The built index.html, read once; null when the pages were never built. */
let indexHtml: string | null | undefined;
export function webIndexHtml(): string | null {
  if (indexHtml === undefined) {
    const file = path.join(WEB_DIST, 'index.html');
    indexHtml = existsSync(file) ? readFileSync(file, 'utf8') : null;
  }
  return indexHtml;
}

const originOf = (url: string | null | undefined): string | null => {
  if (!url) return null;
  try {
    return new URL(url.replace(/[{}]/g, '')).origin;
  } catch {
    return null;
  }
};

/**
 * The pages' Content-Security-Policy: scripts from this origin only (plus WebAssembly, for the
 * in-browser keccak), data only from this origin and the browser-reachable chain endpoint the
 * tracking page verifies against, images from this origin, data: URLs (logos), https (merchant
 * logos) and the tile server; never framed.
 */
export function pagesCsp(config: AppConfig, publicRpcUrl: string | null): string {
  const connect = ["'self'", originOf(publicRpcUrl)].filter(Boolean).join(' ');
  const img = ["'self'", 'data:', 'https:', originOf(config.mapTiles?.url)].filter(Boolean).join(' ');
  return [
    "default-src 'none'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    `img-src ${img}`,
    `connect-src ${connect}`,
    "font-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The public settings the pages need before anyone signs in: map tiles, explorer links, the chain. */
export interface SiteSettings {
  mapTiles: { url: string; attribution: string } | null;
  explorerTxUrl: string | null;
  publicRpcUrl: string | null;
  chainId: string;
  contractAddress: string;
}

/** PUBLIC_CHAIN_RPC_URL; unset: the embedded chain's own URL, and none for an external chain (CHAIN_RPC_URL may carry an API key). */
export function publicRpcUrl(runtime: Pick<Runtime, 'config' | 'chain'>): string | null {
  const { config, chain } = runtime;
  if (config.publicChainRpcUrl) return config.publicChainRpcUrl;
  return config.chain.kind === 'embedded' ? chain.rpcUrl : null;
}
