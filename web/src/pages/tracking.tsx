import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson } from '../api';
import { AT_THE_DOOR, type TrackingEvent, type TrackingView } from '../../../src/proofs/tracking-view';
import { RouteMap } from '../components/route-map';
import { Problem } from '../components/layout';
import { dateTime, day, shortHash, visitorTimeZone, words } from '../format';
import { verifyInBrowser, type BrowserVerification } from '../verify/run';

/** WCAG relative luminance of #rrggbb, to pick readable text on a merchant's colours. */
function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
const contrast = (a: string, b: string): number => {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
};

/** The merchant's colours where they stay readable (WCAG AA, 4.5:1); the page's own where not. */
function brandStyle(view: TrackingView): Record<string, string> {
  const style: Record<string, string> = {};
  const brand = view.brand.brandColor;
  if (brand) {
    style['--brand'] = brand;
    style['--on-brand'] = contrast(brand, '#ffffff') >= 4.5 ? '#ffffff' : '#111111';
  }
  const accent = view.brand.accentColor;
  if (accent && contrast(accent, '#ffffff') >= 4.5) style['--accent'] = accent;
  return style;
}

/** Scans made at the recipient's address. */

const STATUS_LINE: Record<string, string> = {
  PRE_TRANSIT: 'Label created, waiting for the carrier',
  IN_TRANSIT: 'On its way',
  OUT_FOR_DELIVERY: 'Out for delivery today',
  AVAILABLE_FOR_PICKUP: 'Ready for pick-up',
  DELIVERY_FAILED: 'Delivery attempt failed',
  DELIVERED: 'Delivered',
  EXCEPTION: 'There is a problem with this parcel',
  RETURN_TO_SENDER: 'On its way back to the sender',
  LOST: 'Reported lost',
};

export function TrackingPage({ token }: { token: string }) {
  const [view, setView] = useState<TrackingView | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  useEffect(() => {
    setView(null);
    setError(null);
    getJson<TrackingView>(`/api/track/${encodeURIComponent(token)}`).then(setView, (e: ApiError) => setError(e));
  }, [token]);

  if (error) {
    const notFound = error.code === 'SHARE_LINK_NOT_FOUND';
    return (
      <main id="content" class="tracking">
        <section>
          <h1>{notFound ? 'This tracking link does not work' : 'Tracking is unavailable right now'}</h1>
          <p>{notFound ? 'It may be mistyped, expired or withdrawn by the sender. Ask the shop that sent you the link for a new one.' : error.message}</p>
        </section>
      </main>
    );
  }
  if (!view) return <p class="loading" role="status">Loading your parcel…</p>;
  document.title = `${view.brand.name} · parcel ${view.trackingNumber}`;

  const timeline = [...view.timeline].reverse();
  // without the personal-data grant the map stops short of the recipient's door: delivery and
  // attempt scans are made there (their signed positions stay in the bundle, which needs them)
  const atDoor = (e: TrackingEvent): boolean => !view.personalDataShown && AT_THE_DOOR.has(e.eventType);
  const points = view.timeline.filter((e) => e.latitude !== null && e.longitude !== null && !atDoor(e)).map((e) => ({ lat: e.latitude!, lon: e.longitude!, label: `${words(e.eventType)} · ${dateTime(e.occurredAt)}` }));
  const destination = view.destination ? { lat: view.destination.latitude, lon: view.destination.longitude, radiusM: view.destination.radiusM } : null;

  return (
    <div class="tracking" style={brandStyle(view)}>
      <header class="tracking-header">
        {view.brand.logoUrl ? <img src={view.brand.logoUrl} alt={`${view.brand.name} logo`} referrerpolicy="no-referrer" /> : null}
        <span class="merchant">{view.brand.name}</span>
      </header>
      <main id="content">
        <section aria-labelledby="status-heading">
          <p class="muted">
            Parcel {view.trackingNumber} · carried by {view.carrier}
          </p>
          <h1 id="status-heading" class="status-line">
            {STATUS_LINE[view.status] ?? words(view.status)}
          </h1>
          {view.subStatus && view.subStatus !== view.status ? <p>{words(view.subStatus)}</p> : null}
          <dl class="facts">
            {view.deliveredAt ? (
              <>
                <dt>Delivered</dt>
                <dd>{dateTime(view.deliveredAt)}</dd>
              </>
            ) : (
              <>
                <dt>Estimated delivery</dt>
                <dd>{view.estimatedDeliveryAt ? day(view.estimatedDeliveryAt) : 'not known yet'}</dd>
              </>
            )}
            {view.promisedDeliveryAt ? (
              <>
                <dt>Promised by</dt>
                <dd>{day(view.promisedDeliveryAt)}</dd>
              </>
            ) : null}
          </dl>
        </section>
        {points.length ? (
          <section aria-labelledby="route-heading">
            <h2 id="route-heading">Route</h2>
            <RouteMap points={points} destination={destination} label={`Map of the parcel's route through ${points.length} scans${destination ? ' and the delivery area' : ''}`} />
          </section>
        ) : null}
        <Verification view={view} />
        <section aria-labelledby="timeline-heading">
          <h2 id="timeline-heading">Timeline</h2>
          <p class="muted">Times in your time zone ({visitorTimeZone()}).</p>
          <ol class="timeline">
            {timeline.map((e) => (
              <TimelineItem key={e.eventId} event={e} />
            ))}
          </ol>
        </section>
        {view.personalDataShown ? null : <p class="muted small">This link shows no personal data: names, delivery photos and the delivery address are left out.</p>}
      </main>
    </div>
  );
}

function TimelineItem({ event: e }: { event: TrackingEvent }) {
  const voided = e.correctedBy !== null;
  return (
    <li id={`event-${e.eventId}`} data-event-id={e.eventId}>
      <span class="dot" aria-hidden="true" />
      <div>
        <strong>{voided ? <s>{words(e.eventType)}</s> : words(e.eventType)}</strong>
        {voided ? <span class="badge warn">corrected</span> : null}
        <div class="muted">
          <time dateTime={e.occurredAt}>{dateTime(e.occurredAt)}</time>
          {e.locationCode ? ` · ${e.locationCode}` : ''} · {e.custodian}
          {e.dualAttested ? ' · handoff confirmed by both parties' : ''}
        </div>
        <div class="muted small">{e.batchStatus === 'PENDING' || e.batchStatus === 'SEALED' ? 'Recorded; not on the public chain yet' : `On the public chain${e.batchStatus === 'FINAL' ? ' (final)' : ''}`}</div>
        {e.personal?.personalData.length ? (
          <ul class="small">
            {e.personal.personalData.map((p) => (
              <li key={p.path}>
                {words(p.path.split('.').pop() ?? p.path)}: {p.erased ? 'erased' : p.value}
              </li>
            ))}
          </ul>
        ) : null}
        <div class="event-check" data-check-for={e.eventId} />
      </div>
    </li>
  );
}

const VERDICT_WORDS: Record<string, { text: string; tone: 'ok' | 'bad' | 'warn' }> = {
  VALID: { text: 'VALID: every event is signed, chained and anchored on the public chain', tone: 'ok' },
  INCOMPLETE: { text: 'INCOMPLETE: nothing failed, but not everything could be proven yet', tone: 'warn' },
  STALE: { text: 'STALE: the chain holds a newer state than this page; reload it', tone: 'warn' },
  UNPINNED: { text: 'UNPINNED: no trust root was given', tone: 'warn' },
  INVALID: { text: 'INVALID: a check failed', tone: 'bad' },
};

function Verification({ view }: { view: TrackingView }) {
  const [state, setState] = useState<'idle' | 'running' | 'done'>('idle');
  const [result, setResult] = useState<BrowserVerification | null>(null);
  const [error, setError] = useState<string | null>(null);
  const { bundle, reason, trust } = view.verification;
  const anchor = trust.anchors[0];

  const run = async (): Promise<void> => {
    setState('running');
    setError(null);
    try {
      setResult(await verifyInBrowser(view));
    } catch (err) {
      setError(`The verification could not run: ${(err as Error).message}`);
    }
    setState('done');
  };

  const eventsById = new Map(view.timeline.map((e) => [e.eventId, e]));
  return (
    <section aria-labelledby="verify-heading" class="card">
      <h2 id="verify-heading">Check it yourself</h2>
      <p>
        Every scan of this parcel is signed by the device that made it and anchored on a public chain. Your browser checks each signature, each record's fingerprint, the chain that links them, and their proofs against the roots that contract{' '}
        <span class="mono">{anchor?.contract ?? '—'}</span> holds on chain {anchor?.chainId}, read from the chain itself.
      </p>
      <p class="muted small">
        The contract is the one this service names: compare it with the one the sender publishes, or check the bundle with <span class="mono">custody verify --trust</span> against a trust file you keep.
      </p>
      {!bundle ? (
        <p class="notice">{reason === 'NOT_ANCHORED_YET' ? 'Nothing of this parcel is on the public chain yet: it can be checked once the first scans are anchored, usually within minutes.' : 'There is nothing to verify yet.'}</p>
      ) : (
        <button type="button" onClick={() => void run()} disabled={state === 'running'}>
          {state === 'running' ? 'Verifying…' : state === 'done' ? 'Verify again' : 'Verify'}
        </button>
      )}
      <div aria-live="polite" class="verify-result">
        {state === 'running' ? <p role="status">Checking signatures, records and proofs against the chain…</p> : null}
        {error ? <Problem error={{ message: error }} /> : null}
        {state === 'done' && result?.kind === 'unreachable' ? (
          <div class="problem" role="alert" data-verdict="UNREACHABLE">
            <strong>Could not reach the chain{result.rpc ? ` at ${result.rpc}` : ''}: {result.reason}.</strong> Nothing was verified: the page cannot vouch for itself without the chain.
          </div>
        ) : null}
        {state === 'done' && result?.kind === 'report' ? (
          <div data-verdict={result.report.verdict}>
            <p>
              <span class={`badge ${VERDICT_WORDS[result.report.verdict].tone}`}>{VERDICT_WORDS[result.report.verdict].text}</span>
            </p>
            <p class="muted small">
              {result.report.eventsChecked} events and {result.report.batchesChecked} batches checked in this browser; roots read from {result.rpcHost}.
            </p>
            {result.general.length ? (
              <ul class="problem">
                {result.general.map((f, i) => (
                  <li key={i}>
                    <strong>{words(f.check)}</strong>: {f.message}
                  </li>
                ))}
              </ul>
            ) : null}
            <ol class="event-results">
              {result.events.map((e) => {
                const ev = eventsById.get(e.eventId);
                const failed = e.checks.some((c) => c.state === 'failed');
                return (
                  <li key={e.eventId} data-event-result={e.eventId} data-ok={failed ? 'false' : 'true'}>
                    <strong>{ev ? `${words(ev.eventType)} · ${dateTime(ev.occurredAt)}` : shortHash(e.eventId)}</strong>
                    <ul class="checks">
                      {e.checks.map((c) => (
                        <li key={c.label} class={`badge ${c.state === 'ok' ? 'ok' : c.state === 'failed' ? 'bad' : 'warn'}`} data-check={c.label} data-state={c.state}>
                          {c.state === 'ok' ? '✓' : c.state === 'failed' ? '✗' : '…'} {c.label}
                          {c.state === 'pending' ? ' (not anchored yet)' : ''}
                        </li>
                      ))}
                    </ul>
                    {e.checks
                      .filter((c) => c.state === 'failed')
                      .map((c) => (
                        <p key={c.label} class="small check-failure">
                          {c.label} failed: {c.messages.join('; ')}
                        </p>
                      ))}
                  </li>
                );
              })}
            </ol>
          </div>
        ) : null}
      </div>
    </section>
  );
}
