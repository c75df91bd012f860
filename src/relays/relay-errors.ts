// A relay's failures in words an organiser can act on, never with the stream key in them.
import type { RtmpTarget } from './rtmp-url.js';

/** Takes the key out of text that came from elsewhere (a server's answer), and CR/LF with it. */
export function scrubKey(text: string, streamKey: string): string {
  let out = text.replace(/[\r\n]+/g, ' ');
  if (streamKey) out = out.split(streamKey).join('[stream key]');
  return out.slice(0, 300);
}

/** A TLS failure in words an organiser can act on. */
export function describeTlsError(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return "the destination's TLS certificate is for another host name";
  if (code === 'CERT_HAS_EXPIRED') return "the destination's TLS certificate has expired";
  if (/SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY_LEAF|CERT_UNTRUSTED/.test(code)) return `the destination's TLS certificate is not signed by a trusted authority (${code})`;
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || code.includes('CERT')) return `the TLS connection to the destination failed (${code})`;
  return '';
}

export function describeSocketError(o: { err: NodeJS.ErrnoException; target: RtmpTarget; streamKey: string }): string {
  const { err, target } = o;
  const where = `${target.host}:${target.port}`;
  const tlsWords = describeTlsError(err);
  if (tlsWords) return tlsWords;
  if (err.code === 'ECONNREFUSED') return `the destination refused the connection (nothing listening at ${where})`;
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return `the destination's host name ${target.host} does not resolve`;
  if (err.code === 'ETIMEDOUT' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') return `the destination ${where} cannot be reached (${err.code})`;
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return 'the destination closed the connection';
  return `the connection to the destination failed: ${scrubKey(err.message, o.streamKey)}`;
}
