import t from 'tap';
import { checkDestinationHost, checkDestinationUrl, isPrivateAddress, parseDestinationUrl } from './url-check.js';

t.test('the platforms’ server URLs are accepted as pasted', async (t) => {
  t.same(parseDestinationUrl('rtmp://a.rtmp.youtube.com/live2'), { url: 'rtmp://a.rtmp.youtube.com/live2', protocol: 'rtmp', host: 'a.rtmp.youtube.com', port: 1935 });
  t.same(parseDestinationUrl(' rtmps://a.rtmps.youtube.com:443/live2 '), { url: 'rtmps://a.rtmps.youtube.com:443/live2', protocol: 'rtmps', host: 'a.rtmps.youtube.com', port: 443 });
  t.equal(parseDestinationUrl('rtmps://live-api-s.facebook.com:443/rtmp/').url, 'rtmps://live-api-s.facebook.com:443/rtmp', 'a trailing slash is dropped (the relay adds /<key>)');
  t.equal(parseDestinationUrl('rtmp://live.twitch.tv/app').port, 1935);
  t.equal(parseDestinationUrl('rtmps://x.channel.media.azure.net:2935/live/0123abcd').host, 'x.channel.media.azure.net', 'LinkedIn’s two-segment paths');
  t.equal(parseDestinationUrl('rtmps://relay.example').port, 443, 'rtmps defaults to 443');
});

t.test('refused with a clear message: other schemes, credentials, queries, the key in the URL, junk', async (t) => {
  const refused: [string, RegExp, string?][] = [
    ['', /url is required/],
    ['https://a.rtmp.youtube.com/live2', /must start with rtmp:\/\/ or rtmps:\/\//],
    ['srt://host:9000', /must start with rtmp/],
    ['rtmp://user:pass@host/app', /may not hold a user name or password/],
    ['rtmp://host/app?key=abcd1234', /may not have a query/],
    ['rtmp://host/app#frag', /may not have a query \(\?…\) or fragment/],
    ['rtmp://host/app/ab12-cd34-ef56-gh78', /url holds the stream key/, 'ab12-cd34-ef56-gh78'],
    ['rtmp://ho st/app', /spaces or control characters/],
    ['rtmp://host/\napp', /spaces or control characters/],
    ['not a url', /spaces/],
    ['rtmp:app', /url needs a host|not a valid URL/],
    [`rtmp://host/${'a'.repeat(600)}`, /at most 500 characters/],
  ];
  for (const [url, message, key] of refused) {
    t.throws(() => parseDestinationUrl(url, key), { status: 400, code: 'invalid_destination', message }, JSON.stringify(url).slice(0, 60));
  }
});

t.test('private addresses: loopback, RFC 1918, link-local (metadata), CGNAT, unspecified, IPv6 local, IPv4-mapped', async (t) => {
  for (const a of ['127.0.0.1', '127.9.9.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '224.0.0.1']) {
    t.ok(isPrivateAddress(a), `${a} is private`);
  }
  for (const a of ['8.8.8.8', '172.32.0.1', '198.51.100.7', '2001:4860:4860::8888', '::ffff:8.8.8.8']) t.notOk(isPrivateAddress(a), `${a} is public`);
});

t.test('the host is resolved: a name on a private address is refused unless RELAY_ALLOW_PRIVATE', async (t) => {
  const toPrivate = async () => ['93.184.216.34', '10.0.0.5']; // one private address among public ones is enough
  await t.rejects(checkDestinationUrl('rtmp://evil.example/app', { allowPrivate: false, lookup: toPrivate }), {
    status: 400, code: 'destination_private', message: /"evil\.example" is on a loopback, private or link-local address \(10\.0\.0\.5\).*RELAY_ALLOW_PRIVATE=true/,
  });
  t.same(await checkDestinationHost({ host: 'evil.example' }, { allowPrivate: true, lookup: toPrivate }), ['93.184.216.34', '10.0.0.5'], 'allowed when the operator says so');
  await t.rejects(checkDestinationUrl('rtmp://127.0.0.1:1935/live', { allowPrivate: false }), { code: 'destination_private' }, 'an address literal');
  await t.rejects(checkDestinationUrl('rtmp://[::1]/live', { allowPrivate: false }), { code: 'destination_private' }, 'an IPv6 literal');
  await t.rejects(checkDestinationUrl('rtmp://localhost/live', { allowPrivate: false }), { code: 'destination_private' }, 'localhost, through the system resolver');
  await t.rejects(checkDestinationUrl('rtmp://127.1/live', { allowPrivate: false }), { code: 'destination_private' }, 'a short IPv4 form the resolver expands');
  await t.rejects(checkDestinationUrl('rtmp://no-such-host.invalid/live', { allowPrivate: false }), { code: 'invalid_destination', message: /does not resolve/ });
  t.ok(await checkDestinationUrl('rtmp://127.0.0.1:1935/live', { allowPrivate: true }), 'the tests’ local nginx-rtmp, allowed');
  t.ok(await checkDestinationUrl('rtmp://198.51.100.7/live', { allowPrivate: false }), 'a public address');
});
