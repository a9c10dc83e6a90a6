import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * How the proxy treats a request:
 * - `pass`: forwarded to the node, its answer returned;
 * - `blackhole`: accepted and never answered (a hung node, a network partition). Requests held
 *   this way are forwarded when the mode goes back to `pass`, like packets delivered once a
 *   partition heals (a client that gave up meanwhile has closed its socket: nothing is written);
 * - `refuse`: the connection is reset as soon as it is made (a node that is down).
 */
export type RpcProxyMode = 'pass' | 'blackhole' | 'refuse';

/** One JSON-RPC call as the proxy saw it (a batch request gives one entry per call). */
export interface RpcCall {
  method: string;
  params: unknown[];
  /** Date.now() when it arrived */
  at: number;
  /** the mode it arrived in */
  mode: RpcProxyMode;
}

interface Held {
  body: string;
  res: http.ServerResponse;
}

/**
 * A real HTTP server in front of a JSON-RPC node, for fault injection in tests: point the
 * service's CHAIN_RPC_URL at `proxy.url`, switch `proxy.mode`, read `proxy.calls`.
 *
 * ```ts
 * const proxy = await RpcProxy.start(node.url);
 * proxy.mode = 'blackhole';               // the node stops answering
 * proxy.mode = 'pass';                     // it answers again (held requests are forwarded)
 * proxy.callsOf('eth_sendRawTransaction') // every transaction the service sent
 * await proxy.close();
 * ```
 */
export class RpcProxy {
  readonly calls: RpcCall[] = [];
  /** methods still answered in `blackhole` mode (a node that fails half-way: answers eth_chainId, then nothing) */
  readonly passing = new Set<string>();
  private current: RpcProxyMode = 'pass';
  private readonly held: Held[] = [];

  private constructor(
    private readonly server: http.Server,
    private readonly target: string,
    readonly url: string,
  ) {}

  static async start(targetUrl: string): Promise<RpcProxy> {
    let proxy: RpcProxy | undefined;
    const server = http.createServer((req, res) => proxy!.handle(req, res));
    server.on('connection', (socket) => {
      if (proxy?.mode === 'refuse') socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new RpcProxy(server, targetUrl, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return proxy;
  }

  get mode(): RpcProxyMode {
    return this.current;
  }

  set mode(mode: RpcProxyMode) {
    this.current = mode;
    if (mode !== 'pass') return;
    for (const h of this.held.splice(0)) void this.forward(h.body, h.res);
  }

  /** Calls of one method, in arrival order. */
  callsOf(method: string): RpcCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Requests accepted in `blackhole` mode and not answered (yet). */
  get heldCount(): number {
    return this.held.length;
  }

  async close(): Promise<void> {
    for (const h of this.held.splice(0)) h.res.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const methods = this.log(body, this.current);
      const mode = this.current === 'blackhole' && methods.length > 0 && methods.every((m) => this.passing.has(m)) ? 'pass' : this.current;
      if (mode === 'pass') void this.forward(body, res);
      else if (mode === 'blackhole') this.held.push({ body, res });
      else res.destroy();
    });
  }

  /** Records the request's calls; returns their methods. */
  private log(body: string, mode: RpcProxyMode): string[] {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return [];
    }
    const methods: string[] = [];
    for (const call of Array.isArray(parsed) ? parsed : [parsed]) {
      const { method, params } = (call ?? {}) as { method?: unknown; params?: unknown };
      if (typeof method !== 'string') continue;
      methods.push(method);
      this.calls.push({ method, params: Array.isArray(params) ? params : [], at: Date.now(), mode });
    }
    return methods;
  }

  private async forward(body: string, res: http.ServerResponse): Promise<void> {
    if (res.destroyed || res.writableEnded) return;
    try {
      const answer = await fetch(this.target, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const text = await answer.text();
      if (res.destroyed) return;
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(text);
    } catch {
      res.destroy();
    }
  }
}
