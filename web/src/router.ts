import { useEffect, useState } from 'preact/hooks';

/**
 * The pages' own few routes: the History API, no router package needed for five paths. Returns
 * the path; a change of the query string alone (filters, a search) re-renders too.
 */
export function usePath(): string {
  const [where, setWhere] = useState(location.pathname + location.search);
  useEffect(() => {
    const onPop = (): void => setWhere(location.pathname + location.search);
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  return where.split('?')[0];
}

export function navigate(path: string): void {
  if (path === location.pathname + location.search) return;
  history.pushState(null, '', path);
  dispatchEvent(new PopStateEvent('popstate'));
}

/** Same-origin links navigate in place; modified clicks (new tab) keep the browser's behaviour. */
export function onLinkClick(event: MouseEvent): void {
  const a = (event.target as Element).closest('a');
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
}
