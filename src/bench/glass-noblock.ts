// BENCH_GLASS_NO_BLOCKING=1: the proof that bench:glass measures what it claims. The LL side is
// played through this proxy, which serves the appliance's LL playlists with their parts but
// without blocking reload: `CAN-BLOCK-RELOAD=YES` is taken out of EXT-X-SERVER-CONTROL and the
// _HLS_msn/_HLS_part/_HLS_skip directives are dropped from playlist requests (so the origin
// answers at once, as a static file server would). hls.js then polls once per target duration
// (LL-HLS-NOTES §1.2) and the LL targets must NOT be met.
import http from 'node:http';
import type net from 'node:net';

/** The playlist without blocking reload: CAN-BLOCK-RELOAD removed from EXT-X-SERVER-CONTROL (pure). */
export function withoutBlocking(playlist: string): string {
  return playlist
    .split('\n')
    .flatMap((line) => {
      if (!line.startsWith('#EXT-X-SERVER-CONTROL:')) return [line];
      const attrs = line.slice('#EXT-X-SERVER-CONTROL:'.length).split(',').filter((a) => !/^CAN-BLOCK-RELOAD=/.test(a.trim()));
      return attrs.length ? [`#EXT-X-SERVER-CONTROL:${attrs.join(',')}`] : [];
    })
    .join('\n');
}

/** The request path without the blocking-reload directives (pure). */
export function withoutDirectives(pathAndQuery: string): string {
  const u = new URL(pathAndQuery, 'http://x');
  for (const k of ['_HLS_msn', '_HLS_part', '_HLS_skip']) u.searchParams.delete(k);
  return u.pathname + u.search;
}

export interface NoBlockProxy {
  origin: string;
  close(): Promise<void>;
}

/** A proxy in front of `target` (an http://host:port origin) that serves its playlists without blocking reload. */
export function startNoBlockProxy(target: string): Promise<NoBlockProxy> {
  const t = new URL(target);
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const isPlaylist = (req.url ?? '').split('?')[0]!.endsWith('.m3u8');
    const upstream = http.request(
      { host: t.hostname, port: t.port, method: req.method, path: isPlaylist ? withoutDirectives(req.url ?? '/') : req.url, headers: { ...req.headers, host: t.host, 'accept-encoding': 'identity' } },
      (up) => {
        if (!isPlaylist) {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          const body = Buffer.from(withoutBlocking(Buffer.concat(chunks).toString('utf8')));
          const headers = { ...up.headers, 'content-length': String(body.length) };
          delete headers['transfer-encoding'];
          res.writeHead(up.statusCode ?? 502, headers);
          res.end(body);
        });
        up.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(upstream);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        origin: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}
