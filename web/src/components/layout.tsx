import type { ComponentChildren } from 'preact';
import type { Viewer } from '../api';

export interface NavItem {
  href: string;
  label: string;
}

export function StaffLayout({ nav, current, viewer, onSignOut, children }: { nav: NavItem[]; current: string | null; viewer: Viewer; onSignOut: () => void; children: ComponentChildren }) {
  return (
    <>
      <a class="skip" href="#content">Skip to content</a>
      <header class="staff-header">
        <span class="brand">Custody Ledger</span>
        <nav aria-label="Pages">
          <ul>
            {nav.map((item) => (
              <li key={item.href}>
                <a href={item.href} aria-current={item.href === current ? 'page' : undefined}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          {viewer.role.replace('_', ' ').toLowerCase()}
          {viewer.organization ? ` · ${viewer.organization}` : ''}
          <button type="button" class="link" onClick={onSignOut}>Sign out</button>
        </span>
      </header>
      <main id="content" class="staff-main">
        {children}
      </main>
    </>
  );
}

/** A request's three states, shown the same way on every page. */
export function Loading({ what }: { what: string }) {
  return <p class="loading" role="status">Loading {what}…</p>;
}

export function Problem({ error }: { error: { code?: string; message: string } }) {
  return (
    <div class="problem" role="alert">
      <strong>{error.message}</strong>
      {error.code ? <span class="code"> ({error.code})</span> : null}
    </div>
  );
}
