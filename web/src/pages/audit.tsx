import { useEffect, useRef, useState } from 'preact/hooks';
import { gql, siteSettings, type SiteSettings, type Viewer } from '../api';
import { Loading, Problem } from '../components/layout';
import { dateTime, shortHash, words } from '../format';

interface BatchRow {
  seq: string;
  status: string;
  leafCount: number;
  sealedAt: string;
  anchoredAt: string | null;
  txHash: string | null;
  blockNumber: number | null;
}
interface BatchPage {
  edges: Array<{ node: BatchRow }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}
interface AuditRun {
  id: string;
  status: 'RUNNING' | 'DONE' | 'FAILED';
  startedAt: string;
  finishedAt: string | null;
  batchesTotal: number;
  batchesChecked: number;
  error: string | null;
  result: { ok: boolean; fromSeq: string; toSeq: string | null; batchesChecked: number; eventsChecked: number; problems: Array<{ code: string; severity: string; seq: string | null; message: string }> } | null;
}
type Failure = { code: string; message: string };

const RUN = 'id status startedAt finishedAt batchesTotal batchesChecked error result { ok fromSeq toSeq batchesChecked eventsChecked problems { code severity seq message } }';
const POLL_MS = 500;

/** The chain's head block through the public RPC (allowed by the CSP's connect-src); null without one. */
async function headBlock(site: SiteSettings): Promise<number | null> {
  if (!site.publicRpcUrl) return null;
  try {
    const res = await fetch(site.publicRpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] }) });
    const body = (await res.json()) as { result?: string };
    return body.result ? Number(BigInt(body.result)) : null;
  } catch {
    return null;
  }
}

/** Batches and their anchors, the latest audit, and a button that runs the audit with live progress. */
export function AuditPage(_: { viewer: Viewer }) {
  return (
    <>
      <h1>Anchors and audit</h1>
      <AuditRunner />
      <Batches />
    </>
  );
}

function AuditRunner() {
  const [run, setRun] = useState<AuditRun | null | undefined>(undefined);
  const [error, setError] = useState<Failure | null>(null);
  const timer = useRef<number | null>(null);

  const poll = (id: string): void => {
    timer.current = window.setTimeout(() => {
      gql<{ anchorAuditRun: AuditRun }>(`query($id: ID!) { anchorAuditRun(id: $id) { ${RUN} } }`, { id })
        .then((d) => {
          setRun(d.anchorAuditRun);
          if (d.anchorAuditRun.status === 'RUNNING') poll(id);
        })
        .catch(setError);
    }, POLL_MS);
  };
  useEffect(() => {
    gql<{ latestAnchorAudit: AuditRun | null }>(`{ latestAnchorAudit { ${RUN} } }`)
      .then((d) => {
        setRun(d.latestAnchorAudit);
        if (d.latestAnchorAudit?.status === 'RUNNING') poll(d.latestAnchorAudit.id);
      })
      .catch(setError);
    return () => {
      if (timer.current !== null) clearTimeout(timer.current);
    };
  }, []);

  const start = (): void => {
    setError(null);
    gql<{ startAnchorAudit: AuditRun }>(`mutation { startAnchorAudit { ${RUN} } }`)
      .then((d) => {
        setRun(d.startAnchorAudit);
        if (d.startAnchorAudit.status === 'RUNNING') poll(d.startAnchorAudit.id);
      })
      .catch(setError);
  };
  const running = run?.status === 'RUNNING';

  return (
    <section class="card" aria-labelledby="audit-h">
      <h2 id="audit-h">Anchor audit</h2>
      <p class="muted small">Recomputes every event's leaf from its signed fields, rebuilds every batch tree and compares each root with the contract and its log.</p>
      <button type="button" onClick={start} disabled={running}>{running ? 'Audit running…' : 'Run the audit'}</button>
      {error ? <Problem error={error} /> : null}
      {run === undefined ? <Loading what="the latest audit" /> : run === null ? <p>No audit was run yet.</p> : (
        <div class="audit-run">
          <label for="audit-progress">Batches checked: {run.batchesChecked} of {run.batchesTotal}</label>
          <progress id="audit-progress" max={Math.max(run.batchesTotal, 1)} value={run.status === 'DONE' && run.batchesTotal === 0 ? 1 : run.batchesChecked} />
          <p role="status">
            {run.status === 'RUNNING' ? `Audit running, started ${dateTime(run.startedAt)}.` : run.status === 'FAILED' ? 'The audit failed.' : `Audit finished ${dateTime(run.finishedAt)}.`}
          </p>
          {run.error ? <Problem error={{ message: run.error }} /> : null}
          {run.result ? <AuditResult result={run.result} /> : null}
        </div>
      )}
    </section>
  );
}

function AuditResult({ result }: { result: NonNullable<AuditRun['result']> }) {
  return (
    <div data-testid="audit-result">
      <p>
        <span class={`badge ${result.ok ? 'ok' : result.problems.some((p) => p.severity === 'ERROR') ? 'bad' : 'warn'}`}>{result.ok ? 'No problem found' : `${result.problems.length} problem(s)`}</span>{' '}
        {result.batchesChecked} batch(es) and {result.eventsChecked} event(s) checked, seq {result.fromSeq}–{result.toSeq ?? '—'}.
      </p>
      {result.problems.length ? (
        <ul class="reasons">
          {result.problems.map((p, i) => (
            <li key={i}><span class={`badge ${p.severity === 'ERROR' ? 'bad' : 'warn'}`}>{words(p.severity)}</span> <span class="mono">{p.code}</span>{p.seq !== null ? ` (batch ${p.seq})` : ''}: {p.message}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function Batches() {
  const [after, setAfter] = useState<string | null>(null);
  const [page, setPage] = useState<BatchPage | null>(null);
  const [error, setError] = useState<Failure | null>(null);
  const [site, setSite] = useState<SiteSettings | null>(null);
  const [head, setHead] = useState<number | null>(null);

  useEffect(() => {
    void siteSettings()
      .then(async (s) => {
        setSite(s);
        setHead(await headBlock(s));
      })
      .catch(() => null);
  }, []);
  useEffect(() => {
    setPage(null);
    gql<{ batches: BatchPage }>(`query($after: String) { batches(first: 50, after: $after) { edges { node { seq status leafCount sealedAt anchoredAt txHash blockNumber } } pageInfo { hasNextPage endCursor } } }`, { after })
      .then((d) => setPage(d.batches))
      .catch(setError);
  }, [after]);

  const txLink = (tx: string) => (site?.explorerTxUrl ? <a class="mono" href={site.explorerTxUrl.replace('{tx}', tx)} rel="noopener noreferrer" target="_blank">{shortHash(tx)}</a> : <span class="mono">{shortHash(tx)}</span>);
  return (
    <section class="card" aria-labelledby="batches-h">
      <h2 id="batches-h">Batches and anchors</h2>
      {error ? <Problem error={error} /> : !page ? <Loading what="batches" /> : page.edges.length === 0 ? <p>No batch was sealed yet.</p> : (
        <>
          <div class="table-scroll" tabIndex={0} role="region" aria-label="Batches table">
            <table>
              <thead>
                <tr><th scope="col">Seq</th><th scope="col">Status</th><th scope="col">Events</th><th scope="col">Sealed</th><th scope="col">Transaction</th><th scope="col">Block</th><th scope="col">Confirmations</th></tr>
              </thead>
              <tbody>
                {page.edges.map(({ node: b }) => (
                  <tr key={b.seq}>
                    <td>{b.seq}</td>
                    <td><span class={`badge ${b.status === 'FINAL' ? 'ok' : b.status === 'ANCHORED' ? '' : 'warn'}`}>{words(b.status)}</span></td>
                    <td>{b.leafCount}</td>
                    <td>{dateTime(b.sealedAt)}</td>
                    <td>{b.txHash ? txLink(b.txHash) : '—'}</td>
                    <td>{b.blockNumber ?? '—'}</td>
                    <td>{b.blockNumber !== null && head !== null ? Math.max(0, head - b.blockNumber + 1) : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {page.pageInfo.hasNextPage && page.pageInfo.endCursor ? <p><button type="button" class="link" onClick={() => setAfter(page.pageInfo.endCursor)}>Next batches</button></p> : null}
        </>
      )}
    </section>
  );
}
