import { createShipment, eventFields, fetchDomain, record, registerKey, registerOrganization, signEvent } from '../support/factories';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TEST_ADMIN_KEY, startTestLedger, type TestLedger } from '../support/test-ledger';

/** The Prometheus text exposition format, line by line: every line a comment, a HELP/TYPE line or a sample. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.]+(?:e[+-]?\d+)?|NaN|[+-]Inf)(?: \d+)?$/;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = sample.exec(line);
    if (!m) throw new Error(`not Prometheus text: ${JSON.stringify(line)}`);
    samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return samples;
}

/**
 * Issue 13 (operations): /health/live, /health/ready and /metrics on a running ledger (real
 * PGlite or PostgreSQL, Hardhat's EVM), scraped over HTTP and parsed as Prometheus text.
 */
describe('health and metrics', () => {
  let t: TestLedger;
  let base: string;

  beforeAll(async () => {
    t = await startTestLedger({ RATE_LIMIT_PER_MINUTE: '20', READY_MAX_PENDING_EVENTS: '2' });
    base = t.url.replace(/\/graphql$/, '');
  });

  afterAll(async () => {
    await t?.stop().catch(() => undefined);
  });

  const scrape = async (): Promise<Map<string, number>> => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parsePrometheus(await res.text());
  };

  it('live and ready answer without an API key, and are never rate-limited', async () => {
    for (let i = 0; i < 30; i++) {
      expect((await fetch(`${base}/health/live`)).status).toBe(200);
    }
    const ready = await fetch(`${base}/health/ready`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { status: string; checks: Record<string, { status: string; detail: string }> };
    expect(body.status).toBe('ok');
    expect(Object.keys(body.checks).sort()).toEqual(['anchoring', 'backlog', 'chain', 'database']);
    expect(body.checks.chain.detail).toMatch(/^chain 31337 at block \d+$/);
  });

  it('/metrics parses as Prometheus text with the ingest, backlog, lag, latency and RPC series; labels never carry a token', async () => {
    await registerOrganization(t, 'acme-express', 'CARRIER');
    const device = await registerKey(t, 'acme-express');
    await createShipment(t, 'OPS0001', 'acme-express');
    const domain = await fetchDomain(t);
    const good = await signEvent(domain, device, eventFields({ trackingNumber: 'OPS0001', carrier: 'acme-express', custodian: 'acme-express', eventType: 'PICKED_UP' }));
    const unknownShipment = await signEvent(domain, device, eventFields({ trackingNumber: 'OPS9999', carrier: 'acme-express', custodian: 'acme-express', eventType: 'PICKED_UP' }));
    const outcomes = await record(t, [good, unknownShipment, good]);
    expect(outcomes.map((o) => o.outcome)).toEqual(['ACCEPTED', 'REJECTED', 'DUPLICATE']);
    await fetch(`${base}/api/track/secret-token-value-123`);

    const m = await scrape();
    const exact: Record<string, number> = {
      'custody_events_recorded_total{outcome="ACCEPTED"}': 1,
      'custody_events_recorded_total{outcome="REJECTED"}': 1,
      'custody_events_recorded_total{outcome="DUPLICATE"}': 1,
      custody_events_stored_total: 1,
      custody_pending_events: 1,
      custody_unanchored_batches: 0,
      custody_anchoring_lag_seconds: 0,
      custody_rpc_errors_total: 0,
      'custody_http_request_duration_seconds_count{method="GET",route="/api/track/:token",status="404"}': 1,
    };
    expect(Object.fromEntries(Object.keys(exact).map((k) => [k, m.get(k)]))).toEqual(exact);
    for (const positive of ['custody_rpc_requests_total', 'custody_http_request_duration_seconds_count{method="POST",route="/graphql",status="200"}', 'custody_process_resident_memory_bytes']) {
      expect([positive, m.get(positive)! > 0]).toEqual([positive, true]);
    }
    expect(m.get('custody_sealing_lag_seconds')).toBeGreaterThanOrEqual(0);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).not.toContain('secret-token-value-123');
    expect(text).not.toContain('OPS0001');
  });

  it('ready warns (and stays 200) when the pending backlog passes READY_MAX_PENDING_EVENTS', async () => {
    const domain = await fetchDomain(t);
    const device = await registerKey(t, 'acme-express');
    await record(t, [
      await signEvent(domain, device, eventFields({ trackingNumber: 'OPS0001', carrier: 'acme-express', custodian: 'acme-express', eventType: 'ARRIVED_AT_FACILITY' })),
      await signEvent(domain, device, eventFields({ trackingNumber: 'OPS0001', carrier: 'acme-express', custodian: 'acme-express', eventType: 'DEPARTED_FACILITY' })),
    ]);
    const ready = await fetch(`${base}/health/ready`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { status: string; checks: Record<string, { status: string; detail: string }> };
    expect(body.status).toBe('warn');
    expect(body.checks.backlog).toEqual({ status: 'warn', detail: '3 events pending, more than READY_MAX_PENDING_EVENTS=2' });
  });

  it('ready fails with 503 when the database does not answer; live still answers', async () => {
    await t.ledger.runtime.dataSource.destroy();
    const ready = await fetch(`${base}/health/ready`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { status: string; checks: Record<string, { status: string }> };
    expect(body.status).toBe('fail');
    expect(body.checks.database.status).toBe('fail');
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
  });
});

describe('JSON logs (LOG_FORMAT=json)', () => {
  it('one JSON object per line with request ids; API keys, share tokens and private keys never written', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'custody-logs-'));
    const file = path.join(dir, 'ledger.log');
    const t = await startTestLedger({ LOG_FORMAT: 'json', LOG_LEVEL: 'log', LOG_FILE: file });
    const base = t.url.replace(/\/graphql$/, '');
    try {
      const traced = await fetch(`${base}/api/track/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd`, { headers: { 'x-request-id': 'trace-0001-abc' } });
      expect(traced.status).toBe(404);
      expect(traced.headers.get('x-request-id')).toBe('trace-0001-abc');
      const fresh = await fetch(`${base}/health/live`);
      expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      const created = await t.gql<{ createApiKey: { key: string } }>(`mutation { createApiKey(input: { role: "DISPUTE_ANALYST", label: "logs" }) { key } }`);
      const key = created.data!.createApiKey.key;
      await fetch(t.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query: '{ viewer { role } }' }) });
    } finally {
      await t.stop();
    }
    await new Promise((r) => setTimeout(r, 200));
    const text = readFileSync(file, 'utf8');
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as { level: string; time: string; msg: string; req?: { id: string; route: string } });
    expect(lines.length).toBeGreaterThan(3);
    for (const l of lines) expect(typeof l.time === 'string' && typeof l.level === 'string' && typeof l.msg === 'string').toBe(true);
    const request = lines.find((l) => l.req?.id === 'trace-0001-abc')!;
    expect(request).toMatchObject({ level: 'warn', req: { route: '/api/track/:token' }, msg: 'GET /api/track/:token 404' });
    expect(text).not.toContain('AbCdEfGhIjKlMnOpQrStUvWxYz0123456789');
    expect(text).not.toMatch(/cl_[a-z]+_[A-Za-z0-9_-]{8,}/);
    expect(text).not.toContain(TEST_ADMIN_KEY);
    rmSync(dir, { recursive: true, force: true });
  });
});
