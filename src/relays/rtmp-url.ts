// A destination's server URL (rtmp:// or rtmps://, the key kept apart) → where to connect and
// what to say in `connect`. The stream key is never part of these URLs.
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

export interface RtmpTarget {
  secure: boolean;
  host: string;
  port: number;
  app: string;
  tcUrl: string;
}

export class RtmpUrlError extends Error {}

export function parseRtmpUrl(url: string): RtmpTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RtmpUrlError('the destination URL is not a URL');
  }
  const secure = u.protocol === 'rtmps:';
  if (!secure && u.protocol !== 'rtmp:') throw new RtmpUrlError('the destination URL must start with rtmp:// or rtmps://');
  if (!u.hostname) throw new RtmpUrlError('the destination URL has no host');
  if (u.username || u.password) throw new RtmpUrlError('the destination URL must not carry a user or password');
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = u.port ? Number(u.port) : secure ? 443 : 1935;
  // everything after the host is the application ("live2", "app", "rtmp/" …), query included
  const app = (u.pathname.replace(/^\/+/, '').replace(/\/+$/, '') + u.search).trim();
  if (!app) throw new RtmpUrlError('the destination URL has no application path (e.g. rtmp://host/live)');
  const hostPart = net.isIPv6(host) ? `[${host}]` : host;
  const tcUrl = `${secure ? 'rtmps' : 'rtmp'}://${hostPart}${u.port ? `:${port}` : ''}/${app}`;
  return { secure, host, port, app, tcUrl };
}

export const SYSTEM_CA_FILE = '/etc/ssl/certs/ca-certificates.crt';

/**
 * The CAs an RTMPS destination's certificate is checked against: the system store (Debian's
 * ca-certificates, which an operator can extend with update-ca-certificates), or Node's bundled
 * Mozilla list where there is none, plus an extra CA (tests, private platforms).
 */
export function trustedCas(o: { extraCaPem?: string | null; systemCaFile?: string } = {}): string[] {
  const file = o.systemCaFile ?? SYSTEM_CA_FILE;
  const system = existsSync(file) ? [readFileSync(file, 'utf8')] : [...tls.rootCertificates];
  return o.extraCaPem ? [...system, o.extraCaPem] : system;
}
