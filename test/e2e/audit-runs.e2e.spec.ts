import { sqlRows } from '../../src/database/data-source';
import { seedJourney, type SeededJourney } from '../browser/support/journey';
import { eventually } from '../support/test-ledger';

/**
 * Issue 12: anchor audits with live progress. startAnchorAudit answers at once with a RUNNING run,
 * the audit runs in the background and writes its progress to anchor_audit_runs; only one run is
 * RUNNING at a time; a run whose process stopped (stale heartbeat) is marked FAILED when read.
 */
const RUN = 'id status startedAt finishedAt fromSeq toSeq batchesTotal batchesChecked error result { ok batchesChecked eventsChecked problems { code } }';

interface Run {
  id: string;
  status: string;
  finishedAt: string | null;
  batchesTotal: number;
  batchesChecked: number;
  error: string | null;
  result: { ok: boolean; batchesChecked: number; eventsChecked: number; problems: Array<{ code: string }> } | null;
}

describe('anchor audit runs: background audit with progress in the database', () => {
  let j: SeededJourney;
  beforeAll(async () => {
    j = await seedJourney();
  }, 180_000);
  afterAll(async () => j?.t.stop());

  const sql = <T>(text: string, params: unknown[] = []): Promise<T[]> => sqlRows<T>(j.t.ledger.runtime.dataSource, text, params);
  async function call<T>(query: string, variables: Record<string, unknown>, key: string): Promise<{ data?: T; code?: string; message?: string }> {
    const res = await j.t.gql<T>(query, variables, key);
    const err = (res.errors as Array<{ message: string; extensions?: { code?: string } }> | undefined)?.[0];
    return err ? { code: err.extensions?.code, message: err.message } : { data: res.data as T };
  }
  const start = (key: string, vars: Record<string, unknown> = {}) =>
    call<{ startAnchorAudit: Run }>(`mutation($from: Uint64, $to: Uint64) { startAnchorAudit(fromSeq: $from, toSeq: $to) { ${RUN} } }`, vars, key);
  const read = (id: string, key = j.keys.auditor) => call<{ anchorAuditRun: Run }>(`query($id: ID!) { anchorAuditRun(id: $id) { ${RUN} } }`, { id }, key);
  const latest = () => call<{ latestAnchorAudit: Run | null }>(`{ latestAnchorAudit { ${RUN} } }`, {}, j.keys.auditor);

  it('has no run before the first start', async () => {
    expect((await latest()).data).toEqual({ latestAnchorAudit: null });
  });

  it('an auditor starts the audit; it runs in the background to DONE with every batch checked and the result', async () => {
    const started = await start(j.keys.auditor);
    expect(started.data?.startAnchorAudit.status).toBe('RUNNING');
    const id = started.data!.startAnchorAudit.id;
    const done = await eventually(async () => {
      const r = (await read(id)).data?.anchorAuditRun;
      return r && r.status !== 'RUNNING' ? r : undefined;
    }, 60_000, 'the audit run to finish');
    expect(done.status).toBe('DONE');
    expect(done.error).toBeNull();
    expect(done.finishedAt).not.toBeNull();
    expect(done.batchesTotal).toBeGreaterThanOrEqual(1);
    expect(done.batchesChecked).toBe(done.batchesTotal);
    expect(done.result).toMatchObject({ ok: true, batchesChecked: done.batchesTotal, problems: [] });
    expect(done.result!.eventsChecked).toBeGreaterThanOrEqual(5);
    expect((await latest()).data?.latestAnchorAudit?.id).toBe(id);
    // the key that started it is recorded
    const [row] = await sql<{ started_by: string | null }>(`SELECT started_by FROM anchor_audit_runs WHERE id = $1`, [id]);
    expect(row.started_by).not.toBeNull();
  });

  it('only one run at a time: a second start answers the RUNNING one; a stale RUNNING run reads as FAILED and a new start runs', async () => {
    // a run another replica is working on (fresh heartbeat)
    const [other] = await sql<{ id: string }>(`INSERT INTO anchor_audit_runs (batches_total, batches_checked) VALUES (7, 3) RETURNING id`);
    const second = await start(j.keys.admin);
    expect(second.data?.startAnchorAudit).toMatchObject({ id: other.id, status: 'RUNNING', batchesTotal: 7, batchesChecked: 3 });
    expect((await sql<{ n: number }>(`SELECT count(*)::int AS n FROM anchor_audit_runs WHERE status = 'RUNNING'`))[0].n).toBe(1);

    // that replica stopped: no heartbeat for a minute
    await sql(`UPDATE anchor_audit_runs SET heartbeat_at = now() - interval '1 minute' WHERE id = $1`, [other.id]);
    const failed = (await read(other.id)).data?.anchorAuditRun;
    expect(failed).toMatchObject({ status: 'FAILED', batchesChecked: 3, result: null });
    expect(failed?.error).toMatch(/stopped before it finished/);
    expect(failed?.finishedAt).not.toBeNull();

    const fresh = await start(j.keys.admin);
    expect(fresh.data?.startAnchorAudit.id).not.toBe(other.id);
    await eventually(async () => ((await read(fresh.data!.startAnchorAudit.id)).data?.anchorAuditRun.status === 'DONE' ? true : undefined), 60_000, 'the new run to finish');
  });

  it('a stale run is also marked FAILED by the next start', async () => {
    const [stale] = await sql<{ id: string }>(`INSERT INTO anchor_audit_runs (heartbeat_at) VALUES (now() - interval '5 minutes') RETURNING id`);
    const next = await start(j.keys.auditor);
    expect(next.data?.startAnchorAudit.id).not.toBe(stale.id);
    const [row] = await sql<{ status: string }>(`SELECT status FROM anchor_audit_runs WHERE id = $1`, [stale.id]);
    expect(row.status).toBe('FAILED');
    await eventually(async () => ((await read(next.data!.startAnchorAudit.id)).data?.anchorAuditRun.status === 'DONE' ? true : undefined), 60_000, 'the run to finish');
  });

  it('refuses what a user can get wrong, and writes nothing', async () => {
    const before = await sql<{ n: number }>(`SELECT count(*)::int AS n FROM anchor_audit_runs`);
    expect(await start(j.keys.auditor, { from: '5', to: '2' })).toMatchObject({ code: 'VALIDATION_FAILED', message: 'toSeq must not be below fromSeq' });
    expect((await start(j.keys.carrier)).code).toBe('FORBIDDEN');
    expect((await start(j.keys.analyst)).code).toBe('FORBIDDEN');
    expect(await sql<{ n: number }>(`SELECT count(*)::int AS n FROM anchor_audit_runs`)).toEqual(before);
    expect((await read('00000000-0000-4000-8000-000000000000')).code).toBe('NOT_FOUND');
    expect((await read('not-a-uuid')).code).toBe('NOT_FOUND');
  });
});
