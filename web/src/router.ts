// A small path router over the history API: pages are plain paths (/events, /watch/<id>), so a
// link can be shared and a reload lands on the same page (nginx answers the shell for each).
import { useEffect, useState } from 'preact/hooks';

export function navigate(to: string, o: { replace?: boolean } = {}): void {
  // the other app (attendee pages ↔ console) is another page: a real load
  if (isConsole(to) !== isConsole(location.pathname)) return o.replace ? location.replace(to) : location.assign(to);
  if (o.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  dispatchEvent(new PopStateEvent('popstate'));
}

/** The current path (and search), re-rendering on navigation. */
export function usePath(): string {
  const [path, setPath] = useState(location.pathname + location.search);
  useEffect(() => {
    const on = () => setPath(location.pathname + location.search);
    addEventListener('popstate', on);
    return () => removeEventListener('popstate', on);
  }, []);
  return path;
}

/** Where to go after signing in: a page of this site only (never another origin). */
export function safeNext(raw: string | null): string {
  if (!raw || !raw.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\')) return '/events';
  return raw;
}

/** Follows same-site links without a page load. */
export function onLinkClick(e: MouseEvent): void {
  const a = (e.target as Element | null)?.closest('a');
  if (!a || a.target || a.origin !== location.origin || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  if (isConsole(a.pathname) !== isConsole(location.pathname)) return; // the other app: a real load
  if (a.hash && a.pathname === location.pathname && a.search === location.search) return; // a place on this page (the skip link)
  e.preventDefault();
  navigate(a.pathname + a.search);
}

const isConsole = (path: string) => path === '/console' || path.startsWith('/console/') || path.startsWith('/console?');
