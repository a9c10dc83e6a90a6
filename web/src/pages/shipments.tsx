import { useEffect, useState } from 'preact/hooks';
import { ApiError, gql, type Viewer } from '../api';
import { Loading, Problem } from '../components/layout';
import { RouteMap } from '../components/route-map';
import { dateTime, day, words } from '../format';
import { navigate } from '../router';

interface ShipmentRow {
  trackingNumber: string;
  status: string;
  late: boolean;
  estimatedDeliveryAt: string | null;
  promisedDeliveryAt: string | null;
  lastEventAt: string | null;
  carrier: { slug: string; name: string };
  merchant: { slug: string; name: string } | null;
}

interface ShipmentDetail extends ShipmentRow {
  deliveredAt: string | null;
  eventCount: number;
  currentCustodian: { name: string } | null;
  destination: { latE6: number; lonE6: number; radiusM: number } | null;
  events: Array<{ eventId: string; eventType: string; occurredAt: string; custodian: string; locationCode: string; latE6: number; lonE6: number; status: string; dualAttested: boolean; correctedBy: string | null }>;
}

interface ShareLink {
  id: string;
  grantsPersonalData: boolean;
  expiresAt: string | null;
  revokedAt: string | null;
  createdAt: string;
  active: boolean;
}

const ROW = `trackingNumber status late estimatedDeliveryAt promisedDeliveryAt lastEventAt carrier { slug name } merchant { slug name }`;

/** "Where is my order?": find a shipment by tracking number, see where it is, and share a tracking link. */
export function ShipmentsPage({ viewer }: { viewer: Viewer }) {
  const params = new URLSearchParams(location.search);
  const [tracking, setTracking] = useState(params.get('tracking') ?? '');
  const [carrier, setCarrier] = useState(params.get('carrier') ?? (viewer.role === 'CARRIER' ? (viewer.organization ?? '') : ''));
  const [recent, setRecent] = useState<ShipmentRow[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const selected = params.get('tracking') && params.get('carrier') ? { tracking: params.get('tracking')!, carrier: params.get('carrier')! } : null;

  useEffect(() => {
    gql<{ shipments: { edges: Array<{ node: ShipmentRow }> } }>(`{ shipments(first: 25) { edges { node { ${ROW} } } } }`).then(
      (d) => setRecent(d.shipments.edges.map((e) => e.node)),
      (e: ApiError) => setError(e),
    );
  }, []);

  const search = (event: Event): void => {
    event.preventDefault();
    navigate(`/app/shipments?tracking=${encodeURIComponent(tracking.trim())}&carrier=${encodeURIComponent(carrier.trim())}`);
  };

  return (
    <>
      <h1>Shipments</h1>
      <form class="row card" onSubmit={search} aria-label="Find a shipment">
        <div>
          <label for="tracking">Tracking number</label>
          <input id="tracking" value={tracking} required onInput={(e) => setTracking((e.target as HTMLInputElement).value)} />
        </div>
        <div>
          <label for="carrier">Carrier (slug)</label>
          <input id="carrier" value={carrier} required onInput={(e) => setCarrier((e.target as HTMLInputElement).value)} />
        </div>
        <button type="submit">Find</button>
      </form>
      {selected ? <ShipmentPanel key={`${selected.carrier}/${selected.tracking}`} tracking={selected.tracking} carrier={selected.carrier} viewer={viewer} /> : null}
      <h2>Recently changed</h2>
      {error ? <Problem error={error} /> : !recent ? <Loading what="shipments" /> : <ShipmentTable rows={recent} />}
    </>
  );
}

function ShipmentTable({ rows }: { rows: ShipmentRow[] }) {
  if (!rows.length) return <p class="muted">No shipments yet.</p>;
  return (
    <div class="table-scroll">
      <table>
        <thead>
          <tr>
            <th scope="col">Tracking number</th>
            <th scope="col">Carrier</th>
            <th scope="col">Merchant</th>
            <th scope="col">Status</th>
            <th scope="col">Estimated delivery</th>
            <th scope="col">Last scan</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={`${r.carrier.slug}/${r.trackingNumber}`}>
              <td>
                <a href={`/app/shipments?tracking=${encodeURIComponent(r.trackingNumber)}&carrier=${encodeURIComponent(r.carrier.slug)}`}>{r.trackingNumber}</a>
              </td>
              <td>{r.carrier.name}</td>
              <td>{r.merchant?.name ?? '—'}</td>
              <td>
                {words(r.status)} {r.late ? <span class="badge bad">late</span> : null}
              </td>
              <td>{day(r.estimatedDeliveryAt)}</td>
              <td>{dateTime(r.lastEventAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ShipmentPanel({ tracking, carrier, viewer }: { tracking: string; carrier: string; viewer: Viewer }) {
  const [shipment, setShipment] = useState<ShipmentDetail | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    gql<{ shipment: ShipmentDetail }>(
      `query($n: String!, $c: String!) { shipment(trackingNumber: $n, carrier: $c) { ${ROW} deliveredAt eventCount currentCustodian { name } destination { latE6 lonE6 radiusM }
        events { eventId eventType occurredAt custodian locationCode latE6 lonE6 status dualAttested correctedBy } } }`,
      { n: tracking, c: carrier },
    ).then(
      (d) => setShipment(d.shipment),
      (e: ApiError) => setError(e),
    );
  }, [tracking, carrier]);

  if (error) return <Problem error={error.code === 'NOT_FOUND' ? { code: error.code, message: `No shipment ${tracking} of carrier ${carrier} that this key can see.` } : error} />;
  if (!shipment) return <Loading what={`shipment ${tracking}`} />;
  const points = shipment.events.filter((e) => e.latE6 !== 0 || e.lonE6 !== 0).map((e) => ({ lat: e.latE6 / 1e6, lon: e.lonE6 / 1e6, label: words(e.eventType) }));
  const destination = shipment.destination ? { lat: shipment.destination.latE6 / 1e6, lon: shipment.destination.lonE6 / 1e6, radiusM: shipment.destination.radiusM } : null;
  const canShare = viewer.role === 'ADMIN' || viewer.organization === shipment.carrier.slug || viewer.organization === shipment.merchant?.slug;
  return (
    <section class="card" aria-labelledby="shipment-heading">
      <h2 id="shipment-heading">
        {shipment.trackingNumber} · {words(shipment.status)} {shipment.late ? <span class="badge bad">late</span> : null}
      </h2>
      <dl class="facts">
        <dt>Carrier</dt>
        <dd>{shipment.carrier.name}</dd>
        <dt>Merchant</dt>
        <dd>{shipment.merchant?.name ?? '—'}</dd>
        <dt>Holder now</dt>
        <dd>{shipment.currentCustodian?.name ?? '—'}</dd>
        <dt>{shipment.deliveredAt ? 'Delivered' : 'Estimated delivery'}</dt>
        <dd>{shipment.deliveredAt ? dateTime(shipment.deliveredAt) : day(shipment.estimatedDeliveryAt)}</dd>
        <dt>Promised</dt>
        <dd>{day(shipment.promisedDeliveryAt)}</dd>
      </dl>
      <div class="grid two">
        <div>
          <h3>Timeline</h3>
          <ol class="timeline">
            {[...shipment.events].reverse().map((e) => (
              <li key={e.eventId}>
                <span class="dot" aria-hidden="true" />
                <div>
                  <strong>{e.correctedBy ? <s>{words(e.eventType)}</s> : words(e.eventType)}</strong>
                  <div class="muted">
                    {dateTime(new Date(Number(e.occurredAt)).toISOString())}
                    {e.locationCode ? ` · ${e.locationCode}` : ''} · {e.custodian}
                    {e.dualAttested ? ' · counter-signed' : ''}
                  </div>
                  <div class="muted small">{words(e.status)}</div>
                </div>
              </li>
            ))}
          </ol>
        </div>
        <div>
          <h3>Route</h3>
          {points.length ? <RouteMap points={points} destination={destination} label={`Map of the route of ${shipment.trackingNumber}`} /> : <p class="muted">No scan has a position yet.</p>}
        </div>
      </div>
      {canShare ? <ShareLinks tracking={shipment.trackingNumber} carrier={shipment.carrier.slug} /> : null}
    </section>
  );
}

function ShareLinks({ tracking, carrier }: { tracking: string; carrier: string }) {
  const [links, setLinks] = useState<ShareLink[] | null>(null);
  const [created, setCreated] = useState<string | null>(null);
  const [grant, setGrant] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const vars = { n: tracking, c: carrier };
  const load = (): void =>
    void gql<{ shareLinks: ShareLink[] }>(`query($n: String!, $c: String!) { shareLinks(trackingNumber: $n, carrier: $c) { id grantsPersonalData expiresAt revokedAt createdAt active } }`, vars).then(
      (d) => setLinks(d.shareLinks),
      (e: ApiError) => setError(e),
    );
  useEffect(load, [tracking, carrier]);

  const create = async (): Promise<void> => {
    setError(null);
    try {
      const d = await gql<{ createShareLink: { path: string } }>(`mutation($n: String!, $c: String!, $g: Boolean) { createShareLink(trackingNumber: $n, carrier: $c, grantsPersonalData: $g) { path } }`, { ...vars, g: grant });
      setCreated(`${location.origin}${d.createShareLink.path}`);
      load();
    } catch (e) {
      setError(e as ApiError);
    }
  };
  const revoke = async (id: string): Promise<void> => {
    setError(null);
    try {
      await gql(`mutation($id: ID!) { revokeShareLink(id: $id) { id } }`, { id });
      load();
    } catch (e) {
      setError(e as ApiError);
    }
  };

  return (
    <div>
      <h3>Tracking links</h3>
      <p class="muted small">A link shows this parcel's tracking page to whoever has it, without an API key, until it is revoked. It is shown once: copy it now.</p>
      <div class="row">
        <label class="inline">
          <input type="checkbox" checked={grant} onChange={(e) => setGrant((e.target as HTMLInputElement).checked)} /> include personal data (destination, recipient, evidence)
        </label>
        <button type="button" onClick={() => void create()}>Create a tracking link</button>
      </div>
      {created ? (
        <p class="notice" role="status">
          New link: <a href={created} class="mono" data-share-link>{created}</a>
        </p>
      ) : null}
      {error ? <Problem error={error} /> : null}
      {links?.length ? (
        <ul>
          {links.map((l) => (
            <li key={l.id}>
              created {dateTime(l.createdAt)}
              {l.grantsPersonalData ? ' · with personal data' : ''} · {l.active ? 'active' : l.revokedAt ? `revoked ${dateTime(l.revokedAt)}` : 'expired'}
              {l.active ? (
                <button type="button" class="link" onClick={() => void revoke(l.id)} aria-label={`Revoke the link created ${dateTime(l.createdAt)}`}>
                  Revoke
                </button>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
