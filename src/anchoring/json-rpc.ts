import { JsonRpcProvider, Network, type JsonRpcPayload, type JsonRpcResult, type Log, type Provider, type TopicFilter } from 'ethers';

/** How long one JSON-RPC request may take by default (RPC_TIMEOUT_MS). */
export const RPC_TIMEOUT_MS = 10_000;
/** How many blocks one eth_getLogs may span by default (CHAIN_LOG_RANGE); public endpoints cap it. */
export const LOG_RANGE = 5_000;

/** Why one endpoint could not be used, in an operator's words. Never its URL: it may hold an API key. */
export interface EndpointFailure {
  /** 1-based, in the order the URLs were given */
  endpoint: number;
  reason: string;
}

const listFailures = (failures: EndpointFailure[]): string => [...failures].sort((a, b) => a.endpoint - b.endpoint).map((f) => `endpoint #${f.endpoint} ${f.reason}`).join('; ');

/** No endpoint could answer a request. `code` is ethers' (TIMEOUT when every endpoint timed out). */
export class RpcEndpointsError extends Error {
  readonly code: 'TIMEOUT' | 'SERVER_ERROR';

  constructor(
    readonly endpoints: number,
    readonly failures: EndpointFailure[],
    method: string,
  ) {
    super(
      endpoints === 1
        ? `the JSON-RPC endpoint ${failures[0].reason.replace('did not answer', `did not answer ${method}`)}`
        : `all ${endpoints} JSON-RPC endpoints failed: ${listFailures(failures)}`,
    );
    this.name = 'RpcEndpointsError';
    this.code = failures.every((f) => f.reason.startsWith('did not answer')) ? 'TIMEOUT' : 'SERVER_ERROR';
  }
}

/** Start-up found endpoints of different chains: they must never be mixed. */
export class ChainIdMismatchError extends Error {
  constructor(readonly answers: Array<{ endpoint: number; chainId: bigint }>) {
    super(`the JSON-RPC endpoints serve different chains: ${answers.map((a) => `endpoint #${a.endpoint} serves chain ${a.chainId}`).join(', ')}`);
    this.name = 'ChainIdMismatchError';
  }
}

/** A transport failure in words; the error's own message is never used (it names host and port). */
function describeFailure(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; cause?: { code?: string; name?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError' || e?.cause?.name === 'TimeoutError') return `did not answer within ${timeoutMs} ms`;
  const code = e?.cause?.code;
  if (code === 'ECONNREFUSED') return 'refused the connection';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'has a host name that does not resolve';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') return 'closed the connection';
  if (typeof code === 'string' && /CERT|SSL|TLS/.test(code)) return `failed the TLS handshake (${code})`;
  return `could not be reached${typeof code === 'string' ? ` (${code})` : ''}`;
}

type Answer = { ok: true; json: unknown } | { ok: false; reason: string };

const isRpcAnswer = (v: unknown): boolean => typeof v === 'object' && v !== null && 'id' in v && ('result' in v || 'error' in v);

/**
 * One POST to one endpoint, within `timeoutMs` for the whole exchange. A JSON-RPC answer (a
 * result or a JSON-RPC error) is an answer; anything else (no connection, no answer in time,
 * HTTP 429 or 5xx, a body that is not JSON-RPC) means this endpoint failed the request.
 */
async function post(url: string, body: string, timeoutMs: number): Promise<Answer> {
  const deadline = Date.now() + timeoutMs;
  let res: Response | undefined;
  // A kept-alive connection the endpoint closed while idle fails the request sent on it before any
  // answer (the endpoint's keep-alive timeout and ours racing): that request is sent once more on a
  // new connection, within the same time bound. Every call the ledger makes may be repeated (reads,
  // and eth_sendRawTransaction of the same signed transaction, which the node recognises by its hash).
  for (let attempt = 1; !res; attempt++) {
    try {
      res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) });
    } catch (err) {
      const reason = describeFailure(err, timeoutMs);
      if (attempt === 1 && reason === 'closed the connection' && Date.now() < deadline) continue;
      return { ok: false, reason };
    }
  }
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    return { ok: false, reason: describeFailure(err, timeoutMs) };
  }
  if (res.status === 429 || res.status >= 500) return { ok: false, reason: `answered HTTP ${res.status}` };
  try {
    const json = JSON.parse(text) as unknown;
    if (Array.isArray(json) ? json.every(isRpcAnswer) : isRpcAnswer(json)) return { ok: true, json };
  } catch {
    /* not JSON */
  }
  return { ok: false, reason: `answered HTTP ${res.status} without a JSON-RPC answer` };
}

/** Asks one endpoint its chain id: the id, or why it could not say. */
async function chainIdOf(url: string, timeoutMs: number): Promise<{ chainId: bigint } | { reason: string }> {
  const answer = await post(url, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }), timeoutMs);
  if (!answer.ok) return { reason: answer.reason };
  const result = (answer.json as { result?: unknown }).result;
  if (typeof result !== 'string' || !/^0x[0-9a-fA-F]+$/.test(result)) return { reason: 'gave no chain id' };
  return { chainId: BigInt(result) };
}

/**
 * Asks every endpoint its chain id at once (so within `timeoutMs`, however many are down). At
 * least one must answer, and every one that answers must name the same chain.
 */
export async function probeEndpoints(urls: readonly string[], timeoutMs: number): Promise<{ chainId: bigint; answered: boolean[]; failures: EndpointFailure[] }> {
  const results = await Promise.all(urls.map((url) => chainIdOf(url, timeoutMs)));
  const answers = results.flatMap((r, i) => ('chainId' in r ? [{ endpoint: i + 1, chainId: r.chainId }] : []));
  const failures = results.flatMap((r, i) => ('reason' in r ? [{ endpoint: i + 1, reason: r.reason }] : []));
  if (answers.length === 0) {
    throw urls.length === 1 ? new RpcEndpointsError(1, failures, 'eth_chainId') : new NoEndpointError(urls.length, failures);
  }
  if (new Set(answers.map((a) => a.chainId)).size > 1) throw new ChainIdMismatchError(answers);
  return { chainId: answers[0].chainId, answered: results.map((r) => 'chainId' in r), failures };
}

/** Start-up reached none of several endpoints. */
export class NoEndpointError extends RpcEndpointsError {
  constructor(endpoints: number, failures: EndpointFailure[]) {
    super(endpoints, failures, 'eth_chainId');
    this.message = `none of the ${endpoints} JSON-RPC endpoints answered eth_chainId: ${listFailures(failures)}`;
    this.name = 'NoEndpointError';
  }
}

type EndpointState = 'unchecked' | 'ok' | { wrongChain: bigint };

/**
 * A JsonRpcProvider over several endpoints of one chain, sticky: every request goes to the
 * endpoint that answered last; when it fails (no connection, no answer within the timeout,
 * HTTP 429 or 5xx) the same request goes to the next one, in the configured order, wrapping
 * around, each endpoint at most once per request. A JSON-RPC error is an answer and is never
 * retried elsewhere (a revert or a refused range would be the same there; a transaction the
 * node refused must not be sent twice). An endpoint not yet heard from is asked its chain id
 * before its first use, and left out for good if it serves another chain.
 *
 * Why not ethers' FallbackProvider: it broadcasts every transaction to all its backends at
 * once, starts a second backend on any read slower than its stall timeout (400 ms), and syncs
 * with every backend (a dead one included) before its first answer.
 */
export class FailoverJsonRpcProvider extends JsonRpcProvider {
  private current: number;
  private readonly states: EndpointState[];
  /** told when requests move to another endpoint (for the service's log) */
  onSwitch: ((message: string) => void) | undefined;
  /** since start: requests sent, endpoints that failed one, requests every endpoint failed (the `/metrics` RPC series) */
  readonly stats = { requests: 0, endpointFailures: 0, failedRequests: 0 };

  constructor(
    readonly urls: readonly string[],
    readonly chainId: bigint,
    readonly timeoutMs: number,
    answered: boolean[] = urls.map(() => false),
  ) {
    // a static network: no chain-id polling on every request, and no retry storms when a node is down
    super(undefined, Network.from(chainId), { staticNetwork: true, batchMaxCount: 1, polling: false, cacheTimeout: -1 });
    this.states = urls.map((_, i) => (answered[i] ? 'ok' : 'unchecked'));
    this.current = Math.max(0, answered.indexOf(true));
  }

  /** 1-based number of the endpoint requests go to now */
  get endpoint(): number {
    return this.current + 1;
  }

  override async _send(payload: JsonRpcPayload | JsonRpcPayload[]): Promise<JsonRpcResult[]> {
    const body = JSON.stringify(payload);
    const method = Array.isArray(payload) ? payload.map((p) => p.method).join(',') : payload.method;
    const failures: EndpointFailure[] = [];
    const start = this.current;
    this.stats.requests += 1;
    for (let step = 0; step < this.urls.length; step++) {
      const index = (start + step) % this.urls.length;
      const reason = (await this.usable(index)) ?? (await this.tryOne(index, body));
      if (typeof reason !== 'string') {
        if (index !== this.current) {
          const why = failures.length > 0 ? ` after ${listFailures(failures)}` : '';
          this.onSwitch?.(`JSON-RPC requests now go to endpoint #${index + 1} of ${this.urls.length}${why}`);
          this.current = index;
        }
        return reason;
      }
      failures.push({ endpoint: index + 1, reason });
      this.stats.endpointFailures += 1;
    }
    this.stats.failedRequests += 1;
    throw new RpcEndpointsError(this.urls.length, failures, method);
  }

  /** null when the endpoint may be used; else why not */
  private async usable(index: number): Promise<string | null> {
    const state = this.states[index];
    if (state === 'ok') return null;
    if (state !== 'unchecked') return `serves chain ${state.wrongChain}, not ${this.chainId}`;
    const answer = await chainIdOf(this.urls[index], this.timeoutMs);
    if ('reason' in answer) return answer.reason;
    if (answer.chainId !== this.chainId) {
      this.states[index] = { wrongChain: answer.chainId };
      return `serves chain ${answer.chainId}, not ${this.chainId}`;
    }
    this.states[index] = 'ok';
    return null;
  }

  private async tryOne(index: number, body: string): Promise<JsonRpcResult[] | string> {
    const answer = await post(this.urls[index], body, this.timeoutMs);
    if (!answer.ok) return answer.reason;
    return (Array.isArray(answer.json) ? answer.json : [answer.json]) as JsonRpcResult[]; // JSON-RPC errors too: ethers' own _send returns them the same way
  }
}

/** A provider for one or several endpoints, after asking each its chain id (see probeEndpoints). */
export async function connectEndpoints(urls: readonly string[], timeoutMs: number): Promise<{ provider: FailoverJsonRpcProvider; failures: EndpointFailure[] }> {
  const { chainId, answered, failures } = await probeEndpoints(urls, timeoutMs);
  return { provider: new FailoverJsonRpcProvider(urls, chainId, timeoutMs, answered), failures };
}

export interface LogQuery {
  address: string;
  topics: TopicFilter;
}

/** The node's own words for a refused eth_getLogs (the JSON-RPC error), without ethers' payload dump. */
function rpcErrorMessage(err: unknown): string {
  const e = err as { error?: { message?: unknown }; message?: string };
  return typeof e?.error?.message === 'string' ? e.error.message : String(e?.message ?? err).split(' (')[0];
}

/**
 * eth_getLogs over blocks fromBlock…toBlock in windows of at most `range` blocks, newest first,
 * until `pick` finds what it looks for in a window (public endpoints refuse wide ranges). A
 * window the node refuses with a JSON-RPC error fails with a message naming the range setting.
 */
export async function findLogNewestFirst<T>(
  provider: Pick<Provider, 'getLogs'>,
  query: LogQuery,
  fromBlock: number,
  toBlock: number,
  range: number,
  pick: (logs: Log[]) => T | undefined,
  rangeSetting = 'CHAIN_LOG_RANGE',
): Promise<T | undefined> {
  for (let high = toBlock; high >= fromBlock; high -= range) {
    const low = Math.max(fromBlock, high - range + 1);
    let logs: Log[];
    try {
      logs = await provider.getLogs({ address: query.address, topics: query.topics, fromBlock: low, toBlock: high });
    } catch (err) {
      if (err instanceof RpcEndpointsError) throw err;
      throw new Error(`eth_getLogs over blocks ${low}…${high} was refused: ${rpcErrorMessage(err)}; if the endpoint limits eth_getLogs to fewer blocks, lower ${rangeSetting} (now ${range})`);
    }
    const found = pick(logs);
    if (found !== undefined) return found;
  }
  return undefined;
}
