// The web face as nginx serves it, in Debian's Chromium: a signed-out visitor is sent to sign in
// and lands back on the page they opened; the server's words reach the page; the console keeps
// attendees out; the shells are never cached, the hashed assets for good, and the pages load
// nothing from elsewhere.
import t from 'tap';
import { launchChromium } from '../testing/browser.js';
import { startStack } from '../testing/stack.js';

const stack = await startStack(t);
const browser = await launchChromium(t);

t.test('a signed-out visitor opening a page signs in and lands back on it; a wrong password is told in words', async (t) => {
  const page = await browser.newPage();
  t.teardown(() => page.close());
  const external: string[] = [];
  page.on('request', (r) => void (new URL(r.url()).origin !== stack.base && external.push(r.url())));
  const event = (await stack.api('POST', '/events', { title: 'Launch day', startsAt: new Date(Date.now() - 3600_000).toISOString(), endsAt: new Date(Date.now() + 3600_000).toISOString(), status: 'published' }, stack.token)).body;
  await page.goto(`${stack.base}/events`);
  await page.waitForURL(/\/signin\?next=%2Fevents$/);
  await page.getByLabel('E-mail').fill('admin@test.local');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  t.match(await alert.textContent(), /e-?mail or password/i, 'the server’s words');
  await page.getByLabel('Password').fill('admin-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${stack.base}/events`);
  await page.getByRole('heading', { name: 'Events' }).waitFor();
  const live = page.getByRole('region', { name: 'Live now' });
  t.ok(event.id, 'an event exists');
  await live.getByRole('link', { name: 'Launch day' }).waitFor();
  t.pass('the live event is listed under "Live now"');
  t.same(external, [], 'nothing was fetched from another origin');
  // a reload stays signed in
  await page.reload();
  await page.getByRole('heading', { name: 'Events' }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/signin$/);
  t.pass('signing out goes back to sign in');
});

t.test('the console is for staff and speakers: an attendee is sent to the events', async (t) => {
  const u = await stack.user('Attendee Ann');
  const page = await browser.newPage();
  t.teardown(() => page.close());
  await page.goto(`${stack.base}/signin?next=%2Fconsole`);
  await page.getByLabel('E-mail').fill(u.email);
  await page.getByLabel('Password').fill('user-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${stack.base}/events`);
  t.pass('an attendee does not stay on the console');
  t.equal(await page.getByRole('link', { name: 'Console' }).count(), 0, 'and is not offered it');
});

t.test('shells are never cached and say so; hashed assets are cached for good; the page may load only this origin', async (t) => {
  const shell = await fetch(`${stack.base}/watch/abc`);
  t.equal(shell.status, 200);
  t.equal(shell.headers.get('cache-control'), 'no-cache');
  t.equal(shell.headers.get('content-type'), 'text/html; charset=utf-8');
  t.equal(shell.headers.get('referrer-policy'), 'no-referrer');
  t.match(shell.headers.get('content-security-policy'), /default-src 'self'/);
  const html = await shell.text();
  const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  t.ok(asset, 'the shell names a hashed script');
  const js = await fetch(`${stack.base}${asset}`);
  t.equal(js.status, 200);
  t.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  t.equal(js.headers.get('content-type'), 'text/javascript', 'a module script must be served as JavaScript');
  t.equal((await fetch(`${stack.base}/console`)).headers.get('cache-control'), 'no-cache');
  t.equal((await fetch(`${stack.base}/assets/nope.js`)).status, 404);
  t.equal((await fetch(`${stack.base}/watch/../../etc/passwd`)).status, 404, 'nothing else of the disk');
  const root = await fetch(`${stack.base}/`, { redirect: 'manual' });
  t.equal(root.status, 302);
  t.equal(root.headers.get('location')?.replace(/^https?:\/\/[^/]+/, ''), '/events');
});
