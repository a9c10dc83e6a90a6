import { useEffect, useState } from 'preact/hooks';
import { gql, type Viewer } from '../api';
import { Loading, Problem } from '../components/layout';
import { dateTime, words } from '../format';
import { navigate } from '../router';

export const STATUSES = ['OPEN', 'RESOLVED'] as const;
export const VERDICTS = ['DELIVERY_PROVEN', 'DELIVERY_CONTRADICTED', 'INCONCLUSIVE'] as const;
export const CLAIMS = ['NOT_RECEIVED', 'DAMAGED', 'LATE', 'WRONG_LOCATION', 'OTHER'] as const;
const FILTERS = ['status', 'verdict', 'claim', 'carrier', 'trackingNumber'] as const;
type Filters = Partial<Record<(typeof FILTERS)[number], string>>;

export const verdictClass = (v: string): string => (v === 'DELIVERY_PROVEN' ? 'ok' : v === 'DELIVERY_CONTRADICTED' ? 'bad' : 'warn');

interface Row {
  id: string;
  trackingNumber: string;
  carrier: string;
  claim: string;
  status: string;
  verdict: string;
  outcome: string | null;
  openedAt: string;
}
interface Page {
  edges: Array<{ node: Row }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

const QUERY = `query($filter: DisputeFilter, $after: String) { disputes(filter: $filter, first: 25, after: $after) {
  edges { node { id trackingNumber carrier claim status verdict outcome openedAt } } pageInfo { hasNextPage endCursor } } }`;

/** The dispute list: filters in the URL query string, 25 a page, the next page by cursor. */
export function DisputesPage(_: { viewer: Viewer }) {
  const search = new URLSearchParams(location.search);
  const filters: Filters = {};
  for (const f of FILTERS) if (search.get(f)) filters[f] = search.get(f) ?? undefined;
  const after = search.get('after');
  const key = location.search;
  const [answer, setAnswer] = useState<{ key: string; page?: Page; error?: { code: string; message: string } } | null>(null);

  useEffect(() => {
    let cancelled = false;
    gql<{ disputes: Page }>(QUERY, { filter: filters, after })
      .then((d) => !cancelled && setAnswer({ key, page: d.disputes }))
      .catch((error: { code: string; message: string }) => !cancelled && setAnswer({ key, error }));
    return () => {
      cancelled = true;
    };
  }, [key]);

  const onSubmit = (event: Event): void => {
    event.preventDefault();
    const data = new FormData(event.currentTarget as HTMLFormElement);
    const q = new URLSearchParams();
    for (const f of FILTERS) {
      const v = String(data.get(f) ?? '').trim();
      if (v) q.set(f, v);
    }
    navigate(`/app/disputes${q.size ? `?${q}` : ''}`);
  };
  const nextHref = (cursor: string): string => {
    const q = new URLSearchParams(location.search);
    q.set('after', cursor);
    return `/app/disputes?${q}`;
  };
  const select = (name: 'status' | 'verdict' | 'claim', label: string, values: readonly string[]) => (
    <label>
      {label}
      <select name={name} key={`${name}-${key}`}>
        <option value="">Any</option>
        {values.map((v) => (
          <option key={v} value={v} selected={filters[name] === v}>{words(v)}</option>
        ))}
      </select>
    </label>
  );

  return (
    <>
      <h1>Disputes</h1>
      <form class="card row filters" onSubmit={onSubmit} aria-label="Filter disputes">
        {select('status', 'Status', STATUSES)}
        {select('verdict', 'Verdict', VERDICTS)}
        {select('claim', 'Claim', CLAIMS)}
        <label>
          Carrier
          <input name="carrier" key={`c-${key}`} defaultValue={filters.carrier ?? ''} autoComplete="off" />
        </label>
        <label>
          Tracking number
          <input name="trackingNumber" key={`t-${key}`} defaultValue={filters.trackingNumber ?? ''} autoComplete="off" />
        </label>
        <button type="submit">Filter</button>
      </form>
      {!answer || answer.key !== key ? (
        <Loading what="disputes" />
      ) : answer.error ? (
        <Problem error={answer.error} />
      ) : answer.page && answer.page.edges.length === 0 ? (
        <p class="notice">No dispute matches these filters.</p>
      ) : answer.page ? (
        <>
          <div class="table-scroll" tabIndex={0} role="region" aria-label="Disputes table">
            <table>
              <caption class="muted">Disputes, oldest first{after ? ' (next page)' : ''}</caption>
              <thead>
                <tr><th scope="col">Tracking number</th><th scope="col">Carrier</th><th scope="col">Claim</th><th scope="col">Status</th><th scope="col">Verdict</th><th scope="col">Opened</th></tr>
              </thead>
              <tbody>
                {answer.page.edges.map(({ node: d }) => (
                  <tr key={d.id}>
                    <td><a href={`/app/disputes/${encodeURIComponent(d.id)}`}>{d.trackingNumber}</a></td>
                    <td>{d.carrier}</td>
                    <td>{words(d.claim)}</td>
                    <td>{words(d.status)}{d.outcome ? ` (${words(d.outcome)})` : ''}</td>
                    <td><span class={`badge ${verdictClass(d.verdict)}`}>{words(d.verdict)}</span></td>
                    <td>{dateTime(d.openedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {answer.page.pageInfo.hasNextPage && answer.page.pageInfo.endCursor ? <p><a href={nextHref(answer.page.pageInfo.endCursor)}>Next page</a></p> : null}
        </>
      ) : null}
    </>
  );
}
