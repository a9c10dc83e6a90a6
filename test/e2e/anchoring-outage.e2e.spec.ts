import { RpcProxy } from '../support/rpc-proxy';
import { eventually, type TestLedger } from '../support/test-ledger';
import { mustGql } from '../support/factories';
import { anchoredLogs, newRecorder, sealOneBatch, startAnchorNode, startLedgerBehindProxy } from '../support/anchoring-fixtures';

interface BatchView {
  status: string;
  attempts: number;
  lastError: string | null;
  nextAttemptAt: string | null;
}

/**
 * Issue 10, a chain outage: a real Hardhat node behind a real HTTP proxy that stops answering
 * (black hole). Every failed anchoring attempt must show on the batch (attempts, lastError without
 * the RPC URL, nextAttemptAt), and once the node answers again the batch must be anchored within
 * one anchor interval plus one (bounded) back-off step: a correctness bound, not a speed target.
 */
describe('anchoring through a chain outage (issue 10)', () => {
  const INTERVAL_MS = 200;
  const BACKOFF_MAX_MS = 2000;
  const RPC_TIMEOUT_MS = 1000;
  let chain: Awaited<ReturnType<typeof startAnchorNode>>;
  let proxy: RpcProxy;
  let t: TestLedger;

  beforeAll(async () => {
    ({ chain, proxy, t } = await startLedgerBehindProxy({
      CONFIRMATIONS: '1',
      ANCHORER_INTERVAL_MS: String(INTERVAL_MS),
      ANCHOR_BACKOFF_MAX_MS: String(BACKOFF_MAX_MS),
      RPC_TIMEOUT_MS: String(RPC_TIMEOUT_MS),
    }));
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
    await proxy?.close();
    await chain?.close();
  });

  const view = async (): Promise<BatchView> => (await mustGql<{ batch: BatchView }>(t, `{ batch(seq: "0") { status attempts lastError nextAttemptAt } }`)).batch;

  it('records every failed attempt while the node is black-holed and anchors within interval + one back-off step once it answers', async () => {
    const r = await newRecorder(t);
    proxy.mode = 'blackhole';
    expect(await sealOneBatch(r)).toBe('0');

    // failures show up on the batch and keep coming, each with a later next attempt
    const seen: BatchView[] = [];
    await eventually(async () => {
      const v = await view();
      if (v.attempts > (seen[seen.length - 1]?.attempts ?? 0)) seen.push(v);
      return seen.length >= 3 && v.attempts >= 3 ? true : undefined;
    }, 30_000, 'three recorded failures');
    for (const v of seen) {
      expect(v.status).toBe('SEALED');
      expect(v.lastError).toEqual(expect.any(String));
      expect(v.lastError).not.toContain('127.0.0.1');
      expect(v.lastError).not.toContain(proxy.url);
      expect(v.nextAttemptAt).toEqual(expect.any(String));
    }
    const times = seen.map((v) => Date.parse(v.nextAttemptAt!));
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1]);
    console.log(`while black-holed: ${seen.map((v) => `attempts ${v.attempts}: "${v.lastError}" next ${v.nextAttemptAt}`).join('; ')}`);

    // let the back-off reach its ceiling, then the node answers again
    await new Promise((resolve) => setTimeout(resolve, BACKOFF_MAX_MS * 2));
    const restored = Date.now();
    proxy.mode = 'pass';
    const anchored = await eventually(async () => {
      const v = await view();
      return v.status === 'ANCHORED' || v.status === 'FINAL' ? v : undefined;
    }, 60_000, 'batch 0 anchored after the outage');
    const anchoredMs = Date.now() - restored;
    // resuming = the anchorer's first chain request after the node answers again (a held request answered on restore does not count)
    const resumedMs = proxy.calls.find((c) => c.at >= restored && c.mode === 'pass')!.at - restored;
    const bound = INTERVAL_MS + BACKOFF_MAX_MS + 500; // + a margin for the timer and this process
    console.log(`resumed ${resumedMs} ms and anchored ${anchoredMs} ms after the node answered again (resumption bound: interval ${INTERVAL_MS} + back-off step ${BACKOFF_MAX_MS} + 500 = ${bound} ms)`);
    expect(resumedMs).toBeLessThanOrEqual(bound);
    // the tick that resumes anchors the batch (its dozen requests and writes take the rest; generous for a loaded machine)
    expect(anchoredMs).toBeLessThanOrEqual(bound + 5_000);
    expect(anchored.lastError).toBeNull();
    expect(anchored.nextAttemptAt).toBeNull();
    expect(anchored.attempts).toBeGreaterThanOrEqual(seen[seen.length - 1].attempts);
    expect(await anchoredLogs(chain.anchor, 0n)).toHaveLength(1);
  }, 120_000);
});
