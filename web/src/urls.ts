// Media URLs the API gives are absolute (HLS_HOST); the page takes them as paths of its own origin:
// the same nginx serves the pages and the media, so they work under any host name the page was opened by.

/** An /hls/ (or /replay/) URL as a path of this site; other URLs unchanged. */
export function sameOrigin(src: string): string {
  try {
    const u = new URL(src, location.href);
    return u.pathname.startsWith('/hls/') || u.pathname.startsWith('/replay/') ? u.pathname + u.search : src;
  } catch {
    return src;
  }
}
