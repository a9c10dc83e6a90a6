import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * How a gate treats the requests it gets: `pass` forwards them; `refuse` closes its port (the
 * client's connection is refused); `http503` / `http429` answer with that status and no
 * JSON-RPC; `hang` reads the request and never answers.
 */
export type GateMode = 'pass' | 'refuse' | 'http503' | 'http429' | 'hang';

export interface GateCall {
  method: string;
  params: unknown[];
}

interface RpcCall {
  jsonrpc?: string;
  id?: unknown;
  method?: string;
  params?: unknown[];
}

/** The error public endpoints answer for an eth_getLogs over too many blocks (HTTP 200, a JSON-RPC error). */
export const RANGE_TOO_LARGE_CODE = -32005;

/**
 * A real HTTP server in front of a real JSON-RPC node (a Hardhat node over HTTP), playing the
 * parts of a hosted RPC endpoint: it can be down (refusing, 503, 429, hanging) and it can cap the
 * block range of eth_getLogs the way public providers do. Every request's method and params are
 * recorded. Its URL carries a fake API key in the path and the query, so tests can check that
 * no message ever shows it.
 */
export class JsonRpcGate {
  readonly calls: GateCall[] = [];
  /** eth_getLogs over more blocks than this is refused; null: no cap */
  logRangeCap: number | null = null;
  /** answer eth_chainId with this instead of the node's (an endpoint of another chain) */
  chainIdOverride: string | null = null;
  private modeNow: GateMode = 'pass';
  private server: http.Server | undefined;
  private readonly held = new Set<http.ServerResponse>();
  port = 0;

  constructor(
    private readonly upstreamUrl: string,
    readonly apiKey = `key${Math.random().toString(36).slice(2, 12)}`,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/v3/${this.apiKey}?apikey=${this.apiKey}`;
  }

  get mode(): GateMode {
    return this.modeNow;
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Switches mode; `refuse` really closes the port, any other mode opens it again (same port). */
  async setMode(mode: GateMode): Promise<void> {
    this.modeNow = mode;
    if (mode === 'refuse' && this.server) await this.closeServer();
    else if (mode !== 'refuse' && !this.server) await this.start();
    if (mode !== 'hang') this.releaseHeld();
  }

  /** The eth_getLogs calls seen so far, as block numbers. */
  logQueries(): Array<{ fromBlock: number; toBlock: number }> {
    return this.calls
      .filter((c) => c.method === 'eth_getLogs')
      .map((c) => {
        const filter = (c.params[0] ?? {}) as { fromBlock?: string; toBlock?: string };
        return { fromBlock: Number(filter.fromBlock ?? NaN), toBlock: Number(filter.toBlock ?? NaN) };
      });
  }

  async stop(): Promise<void> {
    this.releaseHeld();
    await this.closeServer();
  }

  private releaseHeld(): void {
    for (const res of this.held) res.destroy();
    this.held.clear();
  }

  private async closeServer(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    this.releaseHeld();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += (chunk as Buffer).toString();
    let parsed: RpcCall | RpcCall[];
    try {
      parsed = JSON.parse(body) as RpcCall | RpcCall[];
    } catch {
      res.statusCode = 400;
      res.end('not JSON');
      return;
    }
    const calls = Array.isArray(parsed) ? parsed : [parsed];
    for (const c of calls) this.calls.push({ method: String(c.method), params: c.params ?? [] });
    if (this.modeNow === 'hang') {
      this.held.add(res);
      return;
    }
    if (this.modeNow === 'http503' || this.modeNow === 'http429') {
      res.statusCode = this.modeNow === 'http503' ? 503 : 429;
      res.end(this.modeNow === 'http503' ? 'Service Unavailable' : 'Too Many Requests');
      return;
    }
    const answers = await Promise.all(calls.map((c) => this.answer(c)));
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(Array.isArray(parsed) ? answers : answers[0]));
  }

  private async answer(call: RpcCall): Promise<unknown> {
    if (call.method === 'eth_chainId' && this.chainIdOverride !== null) return { jsonrpc: '2.0', id: call.id, result: this.chainIdOverride };
    if (call.method === 'eth_getLogs' && this.logRangeCap !== null) {
      const filter = (call.params?.[0] ?? {}) as { fromBlock?: string; toBlock?: string; blockHash?: string };
      if (!filter.blockHash) {
        const from = await this.blockOf(filter.fromBlock ?? 'latest');
        const to = await this.blockOf(filter.toBlock ?? 'latest');
        if (to - from + 1 > this.logRangeCap) {
          return { jsonrpc: '2.0', id: call.id, error: { code: RANGE_TOO_LARGE_CODE, message: `block range is too large: eth_getLogs is limited to a ${this.logRangeCap} block range` } };
        }
      }
    }
    return this.upstream(call);
  }

  private async blockOf(tag: string): Promise<number> {
    if (/^0x[0-9a-f]+$/i.test(tag)) return Number(tag);
    if (tag === 'earliest') return 0;
    const head = (await this.upstream({ jsonrpc: '2.0', id: 0, method: 'eth_blockNumber', params: [] })) as { result: string };
    return Number(head.result);
  }

  private async upstream(call: RpcCall): Promise<unknown> {
    const res = await fetch(this.upstreamUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(call) });
    return res.json();
  }
}
