import { useEffect, useState } from 'preact/hooks';
import { ApiError, fetchViewer, session, type Viewer } from './api';
import { StaffLayout, type NavItem } from './components/layout';
import { SignIn } from './pages/sign-in';
import { TrackingPage } from './pages/tracking';
import { DisputesPage } from './pages/disputes';
import { DisputePage } from './pages/dispute';
import { AuditPage } from './pages/audit';
import { AnalyticsPage } from './pages/analytics';
import { ShipmentsPage } from './pages/shipments';
import { navigate, onLinkClick, usePath } from './router';

type Role = Viewer['role'];

/** Staff pages and who sees them: the same roles GraphQL lets read what the page shows. */
const STAFF_PAGES: Array<NavItem & { roles: Role[] }> = [
  { href: '/app/shipments', label: 'Shipments', roles: ['ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST'] },
  { href: '/app/disputes', label: 'Disputes', roles: ['ADMIN', 'DISPUTE_ANALYST'] },
  { href: '/app/audit', label: 'Anchors and audit', roles: ['ADMIN', 'AUDITOR'] },
  { href: '/app/analytics', label: 'Carrier analytics', roles: ['ADMIN', 'DISPUTE_ANALYST', 'CARRIER', 'MERCHANT'] },
];

export function App() {
  const path = usePath();
  const tracking = /^\/t\/([^/]+)\/?$/.exec(path);
  return <div onClick={onLinkClick}>{tracking ? <TrackingPage token={decodeURIComponent(tracking[1])} /> : <Staff path={path} />}</div>;
}

function Staff({ path }: { path: string }) {
  const [viewer, setViewer] = useState<Viewer | null>(null);
  const [state, setState] = useState<'checking' | 'signed-out' | 'signed-in'>(session.key() ? 'checking' : 'signed-out');
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (state !== 'checking') return;
    fetchViewer()
      .then((v) => {
        setViewer(v);
        setState('signed-in');
      })
      .catch((err: ApiError) => {
        session.signOut();
        setError(err.code === 'NETWORK' ? err.message : 'Your API key is no longer valid. Sign in again.');
        setState('signed-out');
      });
  }, [state]);

  if (state === 'checking') return <p class="loading" role="status">Checking your API key…</p>;
  if (state === 'signed-out' || !viewer) {
    return (
      <SignIn
        notice={error}
        onSignedIn={(v) => {
          setViewer(v);
          setError(null);
          setState('signed-in');
        }}
      />
    );
  }

  const allowed = STAFF_PAGES.filter((p) => p.roles.includes(viewer.role));
  const signOut = (): void => {
    session.signOut();
    setViewer(null);
    setState('signed-out');
    navigate('/app/');
  };
  const here = allowed.find((p) => path === p.href || path.startsWith(`${p.href}/`));
  let page;
  if (!here) {
    if (allowed.length && (path === '/app' || path === '/app/')) {
      queueMicrotask(() => navigate(allowed[0].href));
      page = null;
    } else {
      page = <NotAvailable />;
    }
  } else if (here.href === '/app/disputes') {
    const id = /^\/app\/disputes\/([^/]+)$/.exec(path)?.[1];
    page = id ? <DisputePage id={decodeURIComponent(id)} viewer={viewer} /> : <DisputesPage viewer={viewer} />;
  } else if (here.href === '/app/audit') page = <AuditPage viewer={viewer} />;
  else if (here.href === '/app/analytics') page = <AnalyticsPage viewer={viewer} />;
  else page = <ShipmentsPage viewer={viewer} />;

  return (
    <StaffLayout nav={allowed} current={here?.href ?? null} viewer={viewer} onSignOut={signOut}>
      {page}
    </StaffLayout>
  );
}

function NotAvailable() {
  return (
    <section>
      <h1>Not available</h1>
      <p>This page does not exist, or your API key's role cannot see it. The menu lists what it can.</p>
    </section>
  );
}
