// What a destination URL may be. Only rtmp:// and rtmps://, no credentials, no query or fragment
// (a key smuggled there would be stored and shown in the clear), not the key itself in the path,
// and — unless RELAY_ALLOW_PRIVATE — a host whose every address is public: an organiser must not
// be able to point the server at its own loopback, the LAN or a cloud metadata address (SSRF).
// The relay calls checkDestinationHost again right before it connects (DNS may have changed).
import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup } from 'node:dns/promises';
import { AppError } from '../errors.js';

export const URL_MAX = 500;
const invalid = (message: string) => new AppError(400, 'invalid_destination', message);

export interface DestinationUrl {
  /** Normalised (as the WHATWG parser writes it), without a trailing slash. */
  url: string;
  protocol: 'rtmp' | 'rtmps';
  host: string; // without IPv6 brackets
  port: number;
}

/** The checks that need no network. `streamKey` (when given) must not appear in the URL. */
export function parseDestinationUrl(raw: string, streamKey?: string): DestinationUrl {
  const text = raw.trim();
  if (text.length === 0) throw invalid('url is required: the server URL the platform shows (e.g. rtmps://a.rtmps.youtube.com:443/live2).');
  if (text.length > URL_MAX) throw invalid(`url is at most ${URL_MAX} characters.`);
  if (/[\s\u0000-\u001f\u007f]/.test(text)) throw invalid('url may not contain spaces or control characters.');
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw invalid('url is not a valid URL; it must look like rtmp://host/app or rtmps://host:443/app.');
  }
  if (u.protocol !== 'rtmp:' && u.protocol !== 'rtmps:') throw invalid('url must start with rtmp:// or rtmps://.');
  if (u.username || u.password) throw invalid('url may not hold a user name or password; put the stream key in streamKey.');
  if (u.search || u.hash || text.includes('?') || text.includes('#')) throw invalid('url may not have a query (?…) or fragment (#…): put the stream key in streamKey, not in the URL.');
  if (!u.hostname) throw invalid('url needs a host.');
  if (streamKey && streamKey.length >= 4 && text.includes(streamKey)) throw invalid('url holds the stream key: give the server URL only, and the key in streamKey.');
  const protocol = u.protocol === 'rtmps:' ? 'rtmps' : 'rtmp';
  const port = u.port ? Number(u.port) : protocol === 'rtmps' ? 443 : 1935;
  const url = u.toString().replace(/\/+$/, '');
  return { url, protocol, host: u.hostname.replace(/^\[|\]$/g, ''), port };
}

// Addresses a destination may not be on unless RELAY_ALLOW_PRIVATE (IPv4-mapped IPv6 is unwrapped first).
const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b:1::', 48]] as const) blocked.addSubnet(net, bits, 'ipv6');

/** Whether an address is loopback, private, link-local, shared (CGNAT), multicast or unspecified. */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return blocked.check(mapped[1]!, 'ipv4');
  const family = isIP(address);
  if (family === 0) return true; // not an address at all: never trusted
  return blocked.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export type Lookup = (host: string) => Promise<string[]>;
const systemLookup: Lookup = async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** Resolves the host; refuses it when it does not resolve or any of its addresses is private (unless allowed). */
export async function checkDestinationHost(d: Pick<DestinationUrl, 'host'>, o: { allowPrivate: boolean; lookup?: Lookup }): Promise<string[]> {
  let addresses: string[];
  try {
    addresses = isIP(d.host) ? [d.host] : await (o.lookup ?? systemLookup)(d.host);
  } catch {
    throw invalid(`The destination host "${d.host}" does not resolve; check the server URL.`);
  }
  if (addresses.length === 0) throw invalid(`The destination host "${d.host}" does not resolve; check the server URL.`);
  const bad = addresses.find(isPrivateAddress);
  if (bad && !o.allowPrivate) {
    throw new AppError(400, 'destination_private', `The destination host "${d.host}" is on a loopback, private or link-local address (${bad}); such destinations are refused unless the operator sets RELAY_ALLOW_PRIVATE=true.`);
  }
  return addresses;
}

/** Both checks, as the API runs them on create and on a URL change. */
export async function checkDestinationUrl(raw: string, o: { streamKey?: string; allowPrivate: boolean; lookup?: Lookup }): Promise<DestinationUrl> {
  const d = parseDestinationUrl(raw, o.streamKey);
  await checkDestinationHost(d, o);
  return d;
}
