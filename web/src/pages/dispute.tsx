import { useEffect, useState } from 'preact/hooks';
import { gql, session, type Viewer } from '../api';
import { Loading, Problem } from '../components/layout';
import { RouteMap } from '../components/route-map';
import { dateTime, shortHash, words } from '../format';
import { verdictClass } from './disputes';
import type { CustodyLink } from '../../../src/proofs/custody-chain';

/** Only the parts of the dispute's bundle snapshot and verification report this page reads. */
interface PodEventView {
  eventId: string;
  fields: { eventType: string; occurredAt: string; latE6: number; lonE6: number; accuracyM: number; custodian?: string };
  signer: string;
  signerOrganization: string;
  counterSigner: string | null;
  status: string;
  evidence: { contentType: string; sizeBytes: number; hash: string } | null;
  correctedBy: string | null;
}
interface BundleView {
  format: string;
  shipment: { trackingNumber: string; carrier: string; destination: { latE6: number; lonE6: number; radiusM: number } | null; status: string };
  events: PodEventView[];
}
interface VerificationView {
  verdict: string;
  failures: Array<{ check: string; eventIndex: number | null; message: string }>;
  custody?: { chain: CustodyLink[]; consented: boolean };
}
interface DisputeView {
  id: string;
  trackingNumber: string;
  carrier: string;
  claim: string;
  note: string;
  status: string;
  verdict: string;
  outcome: string | null;
  reasons: string[];
  openedAt: string;
  resolvedAt: string | null;
  resolutionNote: string | null;
  bundle: BundleView;
  verification: VerificationView;
}
interface FindingView {
  code: string;
  severity: string;
  message: string;
}

const FIELDS = 'id trackingNumber carrier claim note status verdict outcome reasons openedAt resolvedAt resolutionNote bundle verification';
const OUTCOMES = ['CLAIM_ACCEPTED', 'CLAIM_REJECTED', 'SETTLED', 'WITHDRAWN'] as const;
const DELIVERIES = new Set(['DELIVERED', 'LOCKER_PICKED_UP']);
const EARTH_RADIUS_M = 6_371_008.8;

/** Great-circle distance (haversine), the same formula the verdict uses (src/fraud/detectors.ts). */
function metres(aLat: number, aLon: number, bLat: number, bLon: number): number {
  const rad = (d: number): number => (d * Math.PI) / 180;
  const h = Math.sin(rad(bLat - aLat) / 2) ** 2 + Math.cos(rad(aLat)) * Math.cos(rad(bLat)) * Math.sin(rad(bLon - aLon) / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

const positioned = (e: PodEventView): boolean => !(e.fields.latE6 === 0 && e.fields.lonE6 === 0 && e.fields.accuracyM === 0);

/** One dispute: verdict and reasons, custody chain, delivery position vs the geofence, evidence, findings, every check, the bundle, and the resolution. */
export function DisputePage({ id, viewer }: { id: string; viewer: Viewer }) {
  const [dispute, setDispute] = useState<DisputeView | null>(null);
  const [error, setError] = useState<{ code: string; message: string } | null>(null);

  useEffect(() => {
    gql<{ dispute: DisputeView }>(`query($id: ID!) { dispute(id: $id) { ${FIELDS} } }`, { id })
      .then((d) => setDispute(d.dispute))
      .catch(setError);
  }, [id]);

  if (error) return <><h1>Dispute</h1><Problem error={error} /></>;
  if (!dispute) return <Loading what="the dispute" />;
  return (
    <>
      <p><a href="/app/disputes">← All disputes</a></p>
      <h1>Dispute: {words(dispute.claim)} · {dispute.trackingNumber}</h1>
      <section class="card" aria-labelledby="verdict-h">
        <h2 id="verdict-h">Verdict</h2>
        <p>
          <span class={`badge ${verdictClass(dispute.verdict)}`}>{words(dispute.verdict)}</span>{' '}
          <span class="badge">{words(dispute.status)}</span>
          {dispute.outcome ? <> <span class="badge">{words(dispute.outcome)}</span></> : null}
        </p>
        <dl class="facts">
          <dt>Carrier</dt><dd>{dispute.carrier}</dd>
          <dt>Claim</dt><dd>{words(dispute.claim)}</dd>
          <dt>Opened</dt><dd>{dateTime(dispute.openedAt)}</dd>
          {dispute.note ? <><dt>Note</dt><dd>{dispute.note}</dd></> : null}
          {dispute.resolvedAt ? <><dt>Resolved</dt><dd>{dateTime(dispute.resolvedAt)}{dispute.resolutionNote ? `: ${dispute.resolutionNote}` : ''}</dd></> : null}
        </dl>
        <h3>Reasons</h3>
        <ul class="reasons">{dispute.reasons.map((r, i) => <li key={i}>{r}</li>)}</ul>
      </section>
      <CustodyChain dispute={dispute} />
      <DeliveryPosition bundle={dispute.bundle} />
      <Evidence bundle={dispute.bundle} />
      <Findings dispute={dispute} />
      <Checks verification={dispute.verification} />
      <Download dispute={dispute} />
      {/* resolveDispute: the admin or a platform-wide analyst (no organization) */}
      {viewer.role === 'ADMIN' || (viewer.role === 'DISPUTE_ANALYST' && viewer.organization === null) ? <Resolve dispute={dispute} onResolved={setDispute} /> : null}
    </>
  );
}

function CustodyChain({ dispute }: { dispute: DisputeView }) {
  const chain = dispute.verification.custody?.chain ?? [];
  return (
    <section class="card" aria-labelledby="custody-h">
      <h2 id="custody-h">Custody chain</h2>
      {chain.length === 0 ? (
        <p class="notice">The verification report names no custody transfer.</p>
      ) : (
        <>
          <p class="muted small">{dispute.verification.custody?.consented ? 'Every transfer has a proven consent.' : 'Not every transfer has a proven consent.'}</p>
          <ol class="custody-chain" aria-label="Who held the parcel, in order">
            {chain.map((link) => (
              <li key={link.eventId}>
                <span class="holder">{link.to}</span>
                <span class="small">
                  {words(link.eventType)} · {dateTime(new Date(Number(link.occurredAt)).toISOString())}
                  {link.from ? ` · from ${link.from}` : ' · first holder'}
                </span>
                <span class="small">
                  signed by {link.signer}
                  {link.counterSigner ? `, counter-signed by ${link.counterSigner}` : ', not counter-signed'}
                  {link.delegationId ? ` · delegated (${shortHash(link.delegationId)})` : ''}
                </span>
                <span class={`badge ${link.consent ? 'ok' : 'warn'}`}>{link.consent ? `Consent: ${words(link.consent)}` : 'No proven consent'}</span>
              </li>
            ))}
          </ol>
        </>
      )}
    </section>
  );
}

function DeliveryPosition({ bundle }: { bundle: BundleView }) {
  const delivery = [...bundle.events].reverse().find((e) => DELIVERIES.has(e.fields.eventType) && !e.correctedBy);
  const d = bundle.shipment.destination;
  const points = bundle.events.filter(positioned).map((e) => ({ lat: e.fields.latE6 / 1e6, lon: e.fields.lonE6 / 1e6, label: words(e.fields.eventType) }));
  let words_ = 'No delivery is recorded.';
  if (delivery && !positioned(delivery)) words_ = 'The delivery scan has no position.';
  else if (delivery && !d) words_ = 'The shipment has no destination to compare the delivery position with (or this key may not see it).';
  else if (delivery && d) {
    const m = Math.round(metres(delivery.fields.latE6 / 1e6, delivery.fields.lonE6 / 1e6, d.latE6 / 1e6, d.lonE6 / 1e6));
    const inside = m <= d.radiusM + delivery.fields.accuracyM;
    words_ = `Delivered ${m} m from the destination (geofence ${d.radiusM} m, GPS accuracy ${delivery.fields.accuracyM} m): ${inside ? 'inside' : 'outside'} the geofence.`;
  }
  return (
    <section class="card" aria-labelledby="position-h">
      <h2 id="position-h">Delivery position and destination</h2>
      <p data-testid="delivery-distance">{words_}</p>
      {points.length > 0 ? <RouteMap points={points} destination={d ? { lat: d.latE6 / 1e6, lon: d.lonE6 / 1e6, radiusM: d.radiusM } : null} label="Map of the scan positions and the destination geofence" /> : null}
    </section>
  );
}

function Evidence({ bundle }: { bundle: BundleView }) {
  const withEvidence = bundle.events.filter((e) => e.evidence);
  return (
    <section class="card" aria-labelledby="evidence-h">
      <h2 id="evidence-h">Evidence</h2>
      {withEvidence.length === 0 ? (
        <p class="muted">No event carries evidence.</p>
      ) : (
        <div class="table-scroll" tabIndex={0} role="region" aria-label="Evidence table">
          <table>
            <thead><tr><th scope="col">Event</th><th scope="col">Type</th><th scope="col">Size</th><th scope="col">SHA-256</th></tr></thead>
            <tbody>
              {withEvidence.map((e) => (
                <tr key={e.eventId}>
                  <td>{words(e.fields.eventType)}</td>
                  <td>{e.evidence?.contentType}</td>
                  <td>{e.evidence?.sizeBytes} bytes</td>
                  <td class="mono">{shortHash(e.evidence?.hash)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Findings({ dispute }: { dispute: DisputeView }) {
  const [findings, setFindings] = useState<FindingView[] | null>(null);
  const [error, setError] = useState<{ code: string; message: string } | null>(null);
  useEffect(() => {
    gql<{ fraudReport: { findings: FindingView[] } }>(`query($t: String!, $c: String!) { fraudReport(trackingNumber: $t, carrier: $c) { findings { code severity message } } }`, { t: dispute.trackingNumber, c: dispute.carrier })
      .then((d) => setFindings(d.fraudReport.findings))
      .catch(setError);
  }, [dispute.id]);
  return (
    <section class="card" aria-labelledby="findings-h">
      <h2 id="findings-h">Fraud findings</h2>
      {error ? <Problem error={error} /> : !findings ? <Loading what="findings" /> : findings.length === 0 ? <p>No finding.</p> : (
        <ul>
          {findings.map((f, i) => (
            <li key={i}><span class={`badge ${f.severity === 'HIGH' ? 'bad' : 'warn'}`}>{words(f.severity)}</span> <span class="mono">{f.code}</span>: {f.message}</li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Checks({ verification }: { verification: VerificationView }) {
  const [all, setAll] = useState<readonly string[] | null>(null);
  useEffect(() => {
    // the verifier's own list, from the on-demand verifier chunk
    void import('../verify').then((m) => setAll(m.VERIFICATION_CHECKS));
  }, []);
  return (
    <section class="card" aria-labelledby="checks-h">
      <h2 id="checks-h">Bundle verification</h2>
      <p>Verdict at the time: <span class={`badge ${verification.verdict === 'VALID' ? 'ok' : verification.verdict === 'INVALID' ? 'bad' : 'warn'}`}>{words(verification.verdict)}</span></p>
      {!all ? <Loading what="the checks" /> : (
        <ul class="check-list" aria-label="Every check">
          {all.map((check) => {
            const failed = verification.failures.filter((f) => f.check === check);
            return (
              <li key={check} data-check={check}>
                <span class={`badge ${failed.length ? 'bad' : 'ok'}`}>{failed.length ? 'Failed' : 'Passed'}</span> <span class="mono">{check}</span>
                {failed.length ? <ul>{failed.map((f, i) => <li key={i}>{f.eventIndex !== null ? `event ${f.eventIndex}: ` : ''}{f.message}</li>)}</ul> : null}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

/** The bundle file through the HTTP route, with the key in the Authorization header (never in a URL), saved through a Blob. */
function Download({ dispute }: { dispute: DisputeView }) {
  const [state, setState] = useState<{ busy?: boolean; error?: { code: string; message: string } }>({});
  const file = `${dispute.trackingNumber}.json`;
  const onClick = async (): Promise<void> => {
    setState({ busy: true });
    try {
      const res = await fetch(`/proofs/${encodeURIComponent(dispute.carrier)}/${encodeURIComponent(file)}`, { headers: { authorization: `Bearer ${session.key() ?? ''}` } });
      if (!res.ok) {
        const body = (await res.json().catch(() => null)) as { code?: string; message?: string; error?: { code: string; message: string } } | null;
        throw { code: body?.error?.code ?? body?.code ?? `HTTP_${res.status}`, message: body?.error?.message ?? body?.message ?? `The ledger answered HTTP ${res.status}.` };
      }
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement('a');
      a.href = url;
      a.download = `${dispute.carrier}-${file}`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setState({});
    } catch (error) {
      setState({ error: error as { code: string; message: string } });
    }
  };
  return (
    <section class="card" aria-labelledby="download-h">
      <h2 id="download-h">Proof bundle</h2>
      <p class="muted small">The current bundle for this shipment, to check offline with <span class="mono">custody verify</span>. The dispute's own snapshot is format {dispute.bundle.format}.</p>
      <button type="button" onClick={() => void onClick()} disabled={state.busy}>{state.busy ? 'Preparing…' : 'Download the bundle'}</button>
      {state.error ? <Problem error={state.error} /> : null}
    </section>
  );
}

function Resolve({ dispute, onResolved }: { dispute: DisputeView; onResolved: (d: DisputeView) => void }) {
  const [outcome, setOutcome] = useState('');
  const [note, setNote] = useState('');
  const [invalid, setInvalid] = useState<{ outcome?: string; note?: string }>({});
  const [state, setState] = useState<{ busy?: boolean; done?: boolean; error?: { code: string; message: string } }>({});
  if (dispute.status === 'RESOLVED') {
    return (
      <section class="card" aria-labelledby="resolve-h">
        <h2 id="resolve-h">Resolution</h2>
        <p role="status">{state.done ? 'Resolved. ' : ''}This dispute is resolved: {words(dispute.outcome)}.</p>
      </section>
    );
  }
  const onSubmit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const problems: { outcome?: string; note?: string } = {};
    if (!outcome) problems.outcome = 'Choose an outcome.';
    if (!note.trim()) problems.note = 'Write a note saying why (it is kept with the dispute).';
    setInvalid(problems);
    if (problems.outcome || problems.note) return;
    setState({ busy: true });
    try {
      const d = await gql<{ resolveDispute: DisputeView }>(`mutation($id: ID!, $o: DisputeOutcome!, $n: String!) { resolveDispute(id: $id, outcome: $o, note: $n) { ${FIELDS} } }`, { id: dispute.id, o: outcome, n: note.trim() });
      setState({ done: true });
      onResolved(d.resolveDispute);
    } catch (error) {
      setState({ error: error as { code: string; message: string } });
    }
  };
  return (
    <section class="card" aria-labelledby="resolve-h">
      <h2 id="resolve-h">Resolve</h2>
      <form onSubmit={(e) => void onSubmit(e)} noValidate>
        <label for="outcome">Outcome</label>
        <select id="outcome" value={outcome} onChange={(e) => setOutcome((e.currentTarget as HTMLSelectElement).value)} aria-invalid={invalid.outcome ? true : undefined} aria-describedby={invalid.outcome ? 'outcome-error' : undefined}>
          <option value="">Choose…</option>
          {OUTCOMES.map((o) => <option key={o} value={o}>{words(o)}</option>)}
        </select>
        {invalid.outcome ? <p id="outcome-error" class="problem">{invalid.outcome}</p> : null}
        <label for="note">Note</label>
        <textarea id="note" rows={3} value={note} onInput={(e) => setNote((e.currentTarget as HTMLTextAreaElement).value)} aria-invalid={invalid.note ? true : undefined} aria-describedby={invalid.note ? 'note-error' : undefined} />
        {invalid.note ? <p id="note-error" class="problem">{invalid.note}</p> : null}
        <p><button type="submit" disabled={state.busy}>{state.busy ? 'Resolving…' : 'Resolve the dispute'}</button></p>
        {state.error ? <Problem error={state.error} /> : null}
      </form>
    </section>
  );
}
