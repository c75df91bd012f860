// The web face as nginx serves it, in Debian's Chromium: a signed-out visitor is sent to sign in
// and lands back on the page they opened; the server's words reach the page; the console keeps
// attendees out; the shells are never cached, the hashed assets for good, and the pages load
// nothing from elsewhere.
import t from 'tap';
import type { Page } from 'playwright-core';
import { launchBrowser, launchChromium } from '../testing/browser.js';
import { publishTestPattern, waitFor } from '../testing/harness.js';
import { screenshot as shot, signIn as signInPage } from '../testing/web-pages.js';
import { startStack } from '../testing/stack.js';
import { startRtmpDestination } from '../testing/rtmp-destination.js';

const stack = await startStack(t, { extraEnv: { RELAY_ALLOW_PRIVATE: 'true' } });
const browser = await launchChromium(t);
let manyPeople: Promise<import('playwright-core').Browser> | null = null;
/** A browser whose contexts are separate people (own storage). */
const many = () => (manyPeople ??= launchBrowser(t));

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

// the shared page helpers (src/testing/web-pages.ts) under this file's short names
const screenshot = (page: Page, name: string, width: number, height: number) => shot(page, { name, width, height });
const signIn = (page: Page, email: string, password: string, next: string) => signInPage(page, { base: stack.base, email, password, next });

t.test('the watch page: an offline slate that turns into the live video by itself, every quality selectable, then "ended"', async (t) => {
  const s = (await stack.api('POST', '/streams', { title: 'watch page', record: true }, stack.token)).body; // recorded: the replay follows
  const { session } = await stack.liveSessionOn(s.id, 'Keynote');
  const page = await browser.newPage();
  t.teardown(() => page.close());
  t.equal(session.watchUrl, `${stack.base}/watch/${session.id}`, 'the API names this page as the session’s watchUrl');
  await signIn(page, 'admin@test.local', 'admin-password', new URL(session.watchUrl).pathname);
  await page.getByRole('heading', { name: 'Main' }).waitFor();
  const slate = page.getByRole('region', { name: 'Stream status' });
  await slate.getByText(/offline right now/).waitFor();
  t.pass('offline before the publish');
  await page.getByRole('status', { name: 'Viewers' }).getByText('1 watching').waitFor({ timeout: 15_000 });
  t.pass('"1 watching" (this page in the room)');

  const pub = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 1280, height: 720, fps: 15, seconds: 90, videoKbps: 1200 });
  const video = page.getByLabel('Video: Main');
  await video.waitFor({ timeout: 60_000 });
  t.pass('the video replaced the slate without a reload');
  const time = () => video.evaluate((v: HTMLVideoElement) => v.currentTime);
  await page.waitForFunction(() => (document.querySelector('video')?.currentTime ?? 0) > 2, undefined, { timeout: 30_000 });
  const quality = page.getByLabel('Quality');
  t.same(await quality.locator('option').allTextContents(), ['Auto', '720p', '480p', '360p'], 'auto and every rung of the ladder');
  for (const label of ['360p', '480p', '720p', 'Auto']) {
    await quality.selectOption({ label });
    const before = await time();
    await page.waitForFunction((b) => (document.querySelector('video')?.currentTime ?? 0) > b + 1, before, { timeout: 30_000 });
    t.pass(`plays on at ${label}`);
  }
  t.match(await page.getByTestId('latency').textContent(), /s behind live/, 'the distance to the live edge');
  // the player's heartbeats and its HLS requests are one viewer
  const beats: number[] = [];
  page.on('response', (r) => void (r.url().endsWith('/api/analytics/heartbeat') && beats.push(r.status())));
  await waitFor(() => beats.length >= 1, { what: 'a heartbeat', timeoutMs: 25_000 });
  t.same(beats, [202], 'the playing page says "still watching"');
  const figures = await waitFor(async () => {
    const f = (await stack.api('GET', `/analytics/sessions/${session.id}`, undefined, stack.token)).body;
    return f.currentViewers >= 1 ? f : null;
  }, { what: 'the viewer to be counted', timeoutMs: 15_000 });
  t.equal(figures.currentViewers, 1, 'counted once: HLS requests and heartbeats are the same viewer');
  await pub.stop();
  await slate.getByText('The broadcast has ended.').waitFor({ timeout: 60_000 });
  t.pass('"ended" when the publish stops');
  // the recording is finalised a little later: the page offers the replay by itself
  await waitFor(async () => (await stack.api('GET', `/sessions/${session.id}/recordings`, undefined, stack.token)).body.items.some((r: { status: string }) => r.status === 'ready'), { what: 'the recording to be ready', timeoutMs: 90_000 });
  await page.getByText('The broadcast has ended. Watch the replay:').waitFor({ timeout: 30_000 });
  const replay = page.getByLabel('Video: Main (replay)');
  await replay.waitFor();
  // (a wide margin: the 2-core machine may be busy with other tests' ffmpeg)
  await page.waitForFunction(() => (document.querySelector('video')?.currentTime ?? 0) > 1, undefined, { timeout: 90_000 });
  t.pass('the replay plays');
  t.equal(await page.getByText('Replay', { exact: true }).count(), 1, 'marked as a replay, not live');
  // the console plays it too (the staff preview: never counted as a viewer), beside its download
  await page.goto(`${stack.base}/console/streams/${s.id}`);
  const recordings = page.getByRole('region', { name: 'Recordings' });
  await recordings.getByRole('link', { name: 'Download' }).waitFor({ timeout: 15_000 });
  await recordings.getByRole('button', { name: 'Play' }).click();
  const played = recordings.getByLabel(/^Video: Recording of /);
  await played.waitFor();
  await page.waitForFunction(() => (document.querySelector('video')?.currentTime ?? 0) > 1, undefined, { timeout: 90_000 });
  t.pass('the console plays the recording');
  await recordings.getByRole('button', { name: 'Close player' }).click();
  t.equal(await played.count(), 0, 'and closes it');
});

t.test('two people chat beside the video: history on load, live messages both ways, the pinned message on top, typing, a mute told in words', async (t) => {
  const s = await stack.createStream('chat page');
  const { event, session } = await stack.liveSessionOn(s.id, 'Chat day');
  const ann = await stack.user('Ann Chat');
  const bob = await stack.user('Bob Chat');
  for (const u of [ann, bob]) t.equal((await stack.api('POST', `/events/${event.id}/join`, undefined, u.token)).status, 201);
  // history from before the page opened
  const early = await stack.api('POST', `/chat/session/${session.id}`, { text: 'Welcome, everyone!' }, stack.token);
  t.equal(early.status, 201);
  t.equal((await stack.api('PATCH', `/chat/${early.body.id}/pin`, { pinned: true }, stack.token)).status, 200);
  const pages: Page[] = [];
  for (const u of [ann, bob]) {
    const ctx = await (await many()).newContext();
    // the test can drop a page's WebSockets (Chromium's offline mode leaves open sockets alone)
    await ctx.addInitScript(() => {
      const Native = WebSocket;
      const open: WebSocket[] = [];
      (window as unknown as { dropSockets: () => void }).dropSockets = () => open.splice(0).forEach((ws) => ws.close());
      window.WebSocket = class extends Native {
        constructor(url: string | URL, protocols?: string | string[]) {
          super(url, protocols);
          open.push(this);
        }
      };
    });
    const page = await ctx.newPage();
    await signIn(page, u.email, 'user-password', `/watch/${session.id}`);
    pages.push(page);
  }
  const [pa, pb] = pages as [Page, Page];
  for (const p of pages) {
    await p.getByRole('list', { name: 'Messages' }).getByText('Welcome, everyone!').waitFor();
    t.match(await p.getByLabel('Pinned message').textContent(), /Welcome, everyone!/, 'the pinned message on top');
  }
  await pa.getByLabel('Message', { exact: true }).fill('Hello from Ann');
  await pb.getByText('Ann Chat is typing…').waitFor();
  t.pass('Bob sees Ann typing');
  await pa.getByRole('button', { name: 'Send' }).click();
  for (const p of pages) await p.getByRole('list', { name: 'Messages' }).getByText('Hello from Ann').waitFor();
  t.equal(await pa.getByRole('list', { name: 'Messages' }).getByText('Hello from Ann').count(), 1, 'Ann’s own message once (reconciled by its clientMsgId)');
  await pb.getByLabel('Message', { exact: true }).fill('Hi Ann, Bob here');
  await pb.getByLabel('Message', { exact: true }).press('Enter');
  await pa.getByRole('list', { name: 'Messages' }).getByText('Hi Ann, Bob here').waitFor();
  t.pass('live both ways');

  // a dropped connection loses nothing: Bob goes offline, Ann writes, Bob comes back
  let tickets = 0;
  pb.on('request', (r) => void (r.url().endsWith('/api/realtime/ticket') && (tickets += 1)));
  await pb.context().setOffline(true);
  await pb.evaluate(() => (window as unknown as { dropSockets: () => void }).dropSockets());
  await pa.getByLabel('Message', { exact: true }).fill('While you were away');
  await pa.getByRole('button', { name: 'Send' }).click();
  await pa.getByRole('list', { name: 'Messages' }).getByText('While you were away').waitFor();
  await pb.context().setOffline(false);
  await pb.getByRole('list', { name: 'Messages' }).getByText('While you were away').waitFor({ timeout: 30_000 });
  t.pass('the missed message arrives after the reconnect');
  t.ok(tickets >= 1, `the page opened a new WebSocket (${tickets} ticket(s) asked)`);

  // the admin moderates from the same chat view: pin, delete, mute, then ban
  const padm = await (await (await many()).newContext()).newPage();
  await signIn(padm, 'admin@test.local', 'admin-password', `/watch/${session.id}`);
  const msgs = padm.getByRole('list', { name: 'Messages' });
  await msgs.getByText('Hi Ann, Bob here').waitFor();
  await padm.getByRole('group', { name: 'Moderate: Hi Ann, Bob here' }).getByRole('button', { name: 'Pin' }).click();
  await pa.getByLabel('Pinned message').getByText('Hi Ann, Bob here').waitFor();
  t.pass('pinned from the chat view, on top for everyone');
  await padm.getByRole('group', { name: 'Moderate: Hello from Ann' }).getByRole('button', { name: 'Delete' }).click();
  await pb.getByRole('list', { name: 'Messages' }).getByText('Hello from Ann').waitFor({ state: 'detached' });
  t.pass('deleted from the chat view, gone for everyone');
  t.equal(await pb.getByRole('group', { name: 'Moderate: While you were away' }).count(), 0, 'attendees cannot moderate others’ messages');
  await padm.getByRole('group', { name: 'Moderate: Hi Ann, Bob here' }).getByRole('button', { name: 'Mute 10 min' }).click();
  await pb.getByLabel('Message', { exact: true }).fill('can I still talk?');
  await pb.getByRole('button', { name: 'Send' }).click();
  t.match(await pb.getByRole('alert').textContent(), /muted/i, 'a muted person is told so');
  t.equal(await pa.getByRole('list', { name: 'Messages' }).getByText('can I still talk?').count(), 0, 'and nobody else sees it');
  padm.once('dialog', (d) => void d.accept());
  await padm.getByRole('group', { name: 'Moderate: Hi Ann, Bob here' }).getByRole('button', { name: 'Ban' }).click();
  await pb.getByRole('alert').getByText(/removed/i).waitFor({ timeout: 15_000 });
  t.pass('a banned person’s page says so');
  t.equal(await pb.getByRole('region', { name: 'Chat' }).count(), 0, 'and their chat is gone');
  await padm.getByRole('group', { name: 'Chat settings' }).getByLabel('Slow mode').selectOption({ label: '10 s' });
  await pa.getByText('Slow mode: one message every 10 s.').waitFor();
  t.pass('slow mode set from the chat view reaches the attendees');
});

t.test('a live poll moves on two attendees’ pages as they vote; a question is asked, upvoted and answered', async (t) => {
  const s = await stack.createStream('poll page');
  const { event, session } = await stack.liveSessionOn(s.id, 'Poll day');
  const people = [await stack.user('Cleo Poll'), await stack.user('Dan Poll')];
  const mod = await stack.user('Mia Mod', 'moderator');
  for (const u of people) t.equal((await stack.api('POST', `/events/${event.id}/join`, undefined, u.token)).status, 201);
  const pages: Page[] = [];
  for (const u of people) {
    const page = await (await (await many()).newContext()).newPage();
    await signIn(page, u.email, 'user-password', `/watch/${session.id}`);
    await page.getByRole('region', { name: 'Chat' }).waitFor();
    pages.push(page);
  }
  const [pc, pd] = pages as [Page, Page];
  // the moderator, in a third browser context, opens the poll from the watch page
  const pm = await (await (await many()).newContext()).newPage();
  const modUser = await stack.db.query(`SELECT email FROM users WHERE id = $1`, [mod.id]);
  await signIn(pm, modUser.rows[0].email, 'user-password', `/watch/${session.id}`);
  const newPoll = pm.getByRole('form', { name: 'New poll' });
  await newPoll.getByLabel('Poll question').fill('Best talk?');
  await newPoll.getByLabel('Options (one per line)').fill('Keynote\nPanel');
  await newPoll.getByRole('button', { name: 'Open poll' }).click();
  t.pass('a moderator opens a poll from the page');
  for (const p of pages) await p.getByRole('article', { name: 'Best talk?' }).waitFor();
  t.pass('it appears on both pages without a reload');
  await pc.getByRole('button', { name: 'Keynote' }).click();
  await pd.getByLabel('Keynote: 1 vote · 100 %').waitFor();
  t.pass('Dan sees Cleo’s vote: "1 vote · 100 %"');
  await pd.getByRole('button', { name: 'Panel' }).click();
  for (const p of pages) {
    await p.getByLabel('Keynote: 1 vote · 50 %').waitFor();
    await p.getByLabel('Panel: 1 vote · 50 %').waitFor();
  }
  t.pass('both see 50 % / 50 %');
  t.equal(await pd.getByRole('button', { name: 'Panel' }).getAttribute('aria-pressed'), 'true', 'Dan’s choice is marked');
  await pm.getByLabel('Panel: 1 vote · 50 %').waitFor();
  await pm.getByRole('button', { name: 'Close poll' }).click();
  await pc.getByRole('article', { name: 'Best talk?' }).getByText('(closed)').waitFor();
  t.equal(await pc.getByRole('article', { name: 'Best talk?' }).getByRole('button').count(), 0, 'a closed poll takes no votes');
  t.equal(await pc.getByRole('form', { name: 'New poll' }).count(), 0, 'attendees have no poll tools');

  await pc.getByLabel('Question', { exact: true }).fill('Will the slides be shared?');
  await pc.getByRole('button', { name: 'Ask' }).click();
  const onDan = pd.getByRole('list', { name: 'Questions asked' }).getByRole('listitem', { name: 'Will the slides be shared?' });
  await onDan.waitFor();
  t.pass('the question reaches the other page');
  await pd.getByRole('button', { name: 'Upvote: Will the slides be shared?' }).click();
  await pc.getByRole('button', { name: 'Upvote: Will the slides be shared?' }).getByText('▲ 1').waitFor();
  t.pass('the upvote shows on the asker’s page');
  t.ok(await pd.getByRole('button', { name: 'Upvote: Will the slides be shared?' }).isDisabled(), 'once per person');
  await pm.getByRole('button', { name: 'Mark answered: Will the slides be shared?' }).click();
  await onDan.getByText('Answered').waitFor();
  t.pass('answered, live');
  await pc.getByLabel('Message', { exact: true }).fill('Great keynote!');
  await pc.getByRole('button', { name: 'Send' }).click();
  await pd.getByRole('list', { name: 'Messages' }).getByText('Great keynote!').waitFor();
  t.comment(`screenshots: ${await screenshot(pd, 'watch-desktop', 1280, 800)}, ${await screenshot(pd, 'watch-360', 360, 740)}`);
  // at 360 px nothing is wider than the screen
  t.ok(await pd.evaluate(() => document.documentElement.scrollWidth <= 360), 'no sideways scrolling at 360 px');
});

t.test('register, set a password from an import’s link (the token stays out of the address), and an event page with readable branding, joining and its schedule', async (t) => {
  const ctx = await (await many()).newContext();
  const page = await ctx.newPage();
  const email = `reg-${Date.now()}@example.com`;
  await page.goto(`${stack.base}/signin`);
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.getByLabel('Name').fill('Rita Reg');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  t.match(await page.getByRole('alert').textContent(), /password/i, 'a refused password is told in the server’s words');
  await page.getByLabel('Password').fill('a long enough password');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('status').getByText(/sign in/i).waitFor();
  await signIn(page, email, 'a long enough password', '/events');
  t.pass('the new account signs in');

  const res = await fetch(`${stack.base}/api/users/import`, { method: 'POST', headers: { 'content-type': 'text/csv', authorization: `Bearer ${stack.token}` }, body: `email,name,role\nimp-${Date.now()}@example.com,Ivo Import,attendee\n` });
  const imported = await res.json();
  t.equal(res.status, 200, JSON.stringify(imported));
  const row = imported.results[0];
  const other = await (await many()).newContext();
  const p2 = await other.newPage();
  await p2.goto(`${stack.base}/set-password#token=${row.setPasswordToken}`);
  await p2.getByRole('heading', { name: 'Set your password' }).waitFor();
  t.equal(new URL(p2.url()).hash, '', 'the token is taken out of the address at once');
  await p2.getByLabel('New password').fill('imported person password');
  await p2.getByLabel('Repeat the password').fill('imported person password');
  await p2.getByRole('button', { name: 'Set password' }).click();
  await p2.getByRole('status').getByText('Your password is set.').waitFor();
  await signIn(p2, row.email, 'imported person password', '/events');
  t.pass('the imported person signs in with the password they set');

  // an event with a light brand colour: its text must stay readable
  const at = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();
  const ev = await stack.api('POST', '/events', { title: 'Sunny conf', startsAt: at(-1), endsAt: at(5), status: 'published', branding: { primaryColor: '#ffee00' } }, stack.token);
  t.equal(ev.status, 201);
  await stack.api('POST', `/events/${ev.body.id}/sessions`, { title: 'Opening', startsAt: at(2), endsAt: at(3) }, stack.token);
  await page.goto(`${stack.base}/events`);
  await page.getByRole('region', { name: 'Live now' }).getByRole('link', { name: 'Sunny conf' }).click();
  await page.getByRole('heading', { name: 'Sunny conf' }).waitFor();
  const join = page.getByRole('button', { name: 'Join the event' });
  const ratio = await join.evaluate((b) => {
    const parse = (c: string) => (c.match(/\d+/g) ?? []).slice(0, 3).map(Number);
    const lum = (rgb: number[]) => {
      const [r, g, bl] = rgb.map((v) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4));
      return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
    };
    const s = getComputedStyle(b);
    const [a, c] = [lum(parse(s.color)), lum(parse(s.backgroundColor))].sort((x, y) => y - x);
    return (a! + 0.05) / (c! + 0.05);
  });
  t.ok(ratio >= 4.5, `the button text on the brand colour is readable (${ratio.toFixed(1)}:1)`);
  const link = await page.getByRole('link', { name: 'Opening' }).evaluate((a) => getComputedStyle(a).color);
  t.not(link, 'rgb(255, 238, 0)', 'links are not drawn in the light brand colour itself');
  t.match(await page.getByRole('region', { name: 'Schedule' }).textContent(), /starts in 1 h 5\d min|starts in 2 h 0 min|starts in 1 h/, 'a countdown to the next session');
  await join.click();
  await page.getByRole('status').getByText('You are attending.').waitFor();
  t.pass('joined from the event page');
});

t.test('the console: create a stream (key shown once, copy, OBS settings), see it live with its health and picture, relay it to a destination and disable it', async (t) => {
  const page = await (await (await many()).newContext({ permissions: ['clipboard-read', 'clipboard-write'] })).newPage();
  await signIn(page, 'admin@test.local', 'admin-password', '/console');
  await page.getByRole('heading', { name: 'Streams' }).waitFor();
  await page.getByRole('form', { name: 'New stream' }).getByLabel('Title').fill('Console stream');
  await page.getByRole('button', { name: 'Create stream' }).click();
  const keyBox = page.getByRole('region', { name: 'Stream key' });
  const key = await keyBox.getByLabel('Stream key').inputValue();
  t.match(key, /^live_/, 'the key is shown once');
  await keyBox.getByRole('button', { name: 'Copy' }).click();
  t.equal(await page.evaluate(() => navigator.clipboard.readText()), key, 'Copy puts it on the clipboard');
  t.match(await keyBox.textContent(), /Server rtmp:\/\//, 'with the OBS settings to paste');
  await keyBox.getByRole('button', { name: 'I have stored the key' }).click();
  await page.getByRole('list', { name: 'Streams' }).getByRole('link', { name: 'Console stream' }).click();
  await page.getByRole('heading', { name: /Console stream/ }).waitFor();

  const pub = publishTestPattern(t, { url: stack.rtmpUrl(key), width: 1280, height: 720, fps: 15, seconds: 120, videoKbps: 1200 });
  const health = page.getByRole('region', { name: 'Live health' });
  await health.getByText('1280×720 · 15 fps', { exact: false }).waitFor({ timeout: 60_000 });
  await page.getByRole('heading', { name: /Console stream live/ }).waitFor({ timeout: 60_000 });
  t.pass('live, with the source’s size and rate');
  await health.getByText(/720p.*, 480p, 360p/).waitFor();
  await health.getByText(/speed \d/).waitFor({ timeout: 30_000 });
  await health.getByRole('img', { name: 'Live picture' }).waitFor({ timeout: 30_000 });
  t.ok(await health.getByRole('img', { name: 'Live picture' }).evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth > 0), 'the live picture loads');
  t.match(await page.getByRole('list', { name: 'Publish log' }).textContent(), /./, 'the publish log told to the broadcaster');

  const destKey = `dk_${Date.now()}`;
  const dest = await startRtmpDestination(t, { acceptKey: destKey });
  const relays = page.getByRole('region', { name: 'Relay destinations' });
  await relays.getByLabel('Name').fill('Local nginx');
  await relays.getByLabel('Server URL').fill(`rtmp://127.0.0.1:${dest.port}/live`);
  await relays.getByLabel('Destination stream key').fill(destKey);
  await relays.getByRole('button', { name: 'Add destination' }).click();
  const row = relays.getByRole('row', { name: 'Local nginx' });
  await row.getByTestId('relay-state').getByText(/^live/).waitFor({ timeout: 30_000 });
  t.pass('the destination goes live in the console');
  t.match(await row.textContent(), new RegExp(`key …${destKey.slice(-4)}`), 'only the key’s last four characters are shown');
  t.notOk((await page.content()).includes(destKey), 'the destination key is nowhere in the page');
  await relays.getByLabel('Enabled: Local nginx').uncheck();
  await row.getByTestId('relay-state').getByText(/^idle/).waitFor({ timeout: 30_000 });
  t.pass('disabled: idle');
  t.comment(`screenshot: ${await screenshot(page, 'console-stream', 1280, 900)}`);

  // an event and a session on this stream, made and published from the console; its analytics and CSV
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Events', exact: true }).click();
  const newEvent = page.getByRole('form', { name: 'New event' });
  await newEvent.getByLabel('Event title').fill('Console conf');
  const now = new Date(Date.now() - 30 * 60_000);
  const local = (d: Date) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  await newEvent.getByLabel('Starts').fill(local(now));
  await newEvent.getByLabel('Ends').fill(local(new Date(now.getTime() + 4 * 3_600_000)));
  await newEvent.getByLabel('Brand colour').fill('#ffcc00');
  t.match(await page.getByRole('img', { name: 'Branding preview' }).textContent(), /Console conf/, 'the branding preview follows the form');
  await newEvent.getByRole('button', { name: 'Create event' }).click();
  await page.getByRole('heading', { name: 'Console conf' }).waitFor();
  const sessions = page.getByRole('form', { name: 'New session' });
  await sessions.getByLabel('Session title').fill('Opening keynote');
  await sessions.getByLabel('Session starts').fill(local(now));
  await sessions.getByLabel('Session ends').fill(local(new Date(now.getTime() + 2 * 3_600_000)));
  await sessions.getByLabel('Stream').selectOption({ label: 'Console stream' });
  await sessions.getByRole('button', { name: 'Add session' }).click();
  await page.getByRole('region', { name: 'Sessions' }).getByRole('link', { name: 'Opening keynote' }).waitFor();
  await page.getByRole('button', { name: 'Publish' }).click();
  await page.getByRole('button', { name: 'Back to draft' }).waitFor();
  t.pass('event created, session on the stream added, event published — all from the console');
  const ev = (await stack.api('GET', '/events?limit=100', undefined, stack.token)).body.items.find((e: { title: string }) => e.title === 'Console conf');
  t.match(ev, { status: 'published', branding: { primaryColor: '#ffcc00' } }, 'as the API says');
  const analytics = page.getByRole('region', { name: 'Analytics' });
  await analytics.getByText('Unique viewers').waitFor();
  const download = page.waitForEvent('download');
  await analytics.getByRole('button', { name: 'Export activity report (CSV)' }).click();
  const file = await (await download).path();
  const csv = (await import('node:fs')).readFileSync(file!, 'utf8');
  t.match(csv.split(/\r?\n/)[0], /email/i, 'the CSV activity report downloads, with its header row');
  t.comment(`screenshot: ${await screenshot(page, 'console-event', 1280, 900)}`);
  await pub.stop();
});

t.test('the console’s users: import a CSV with its per-row report and set-password links, search, change a role', async (t) => {
  const page = await (await (await many()).newContext()).newPage();
  await signIn(page, 'admin@test.local', 'admin-password', '/console/users');
  const stamp = Date.now();
  const csv = `email,name,role\nuno-${stamp}@example.com,Uno Import,attendee\ndos-${stamp}@example.com,Dos Import,speaker\nnot-an-email,Bad Row,attendee\n`;
  await page.getByLabel('CSV file').setInputFiles({ name: 'people.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.getByRole('status').getByText('2 created · 0 skipped · 1 failed').waitFor();
  t.pass('the report counts the rows');
  const report = page.getByRole('table', { name: 'Import report' });
  t.match(await report.textContent(), /failed/, 'the bad row says why it failed');
  const link = await page.getByLabel(`Set-password link for uno-${stamp}@example.com`).inputValue();
  t.match(link, /\/set-password#token=/, 'each new person gets a set-password link, the token in its #fragment');
  await page.getByLabel('Search').fill(`dos-${stamp}`);
  const role = page.getByLabel('Role of Dos Import');
  await role.waitFor();
  await waitFor(async () => (await page.getByRole('table', { name: 'Users' }).getByRole('row').count()) === 2, { what: 'the search to narrow the list to the one person (and the header row)', timeoutMs: 10_000 });
  t.pass('the search finds the one person');
  await role.selectOption('moderator');
  const dos = await waitFor(async () => {
    const r = (await stack.api('GET', `/users?q=dos-${stamp}`, undefined, stack.token)).body.items[0];
    return r?.role === 'moderator' ? r : null;
  }, { what: 'the role change', timeoutMs: 10_000 });
  t.equal(dos.role, 'moderator', 'the role changed');
  // the link works: it sets the password of the imported person
  const p2 = await (await (await many()).newContext()).newPage();
  await p2.goto(link);
  await p2.getByLabel('New password').fill('uno has a password now');
  await p2.getByLabel('Repeat the password').fill('uno has a password now');
  await p2.getByRole('button', { name: 'Set password' }).click();
  await p2.getByRole('status').getByText('Your password is set.').waitFor();
  t.pass('the link from the report sets the password');
});

t.test('the console edits an event’s details and removes a session', async (t) => {
  const at = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();
  const ev = (await stack.api('POST', '/events', { title: 'Draft day', startsAt: at(24), endsAt: at(26) }, stack.token)).body;
  const ses = (await stack.api('POST', `/events/${ev.id}/sessions`, { title: 'Cancelled talk', startsAt: at(24), endsAt: at(25) }, stack.token)).body;
  t.ok(ses.id, 'a session to remove');
  const page = await (await (await many()).newContext()).newPage();
  await signIn(page, 'admin@test.local', 'admin-password', `/console/events/${ev.id}`);
  const details = page.getByRole('form', { name: 'Event details' });
  await details.getByLabel('Event title').fill('Launch day');
  await details.getByLabel('Description').fill('Everything new, live.');
  await details.getByLabel('Visibility').selectOption('private');
  await details.getByLabel('Attendee limit').fill('250');
  await details.getByRole('button', { name: 'Save details' }).click();
  await page.getByRole('heading', { name: 'Launch day' }).waitFor();
  t.match((await stack.api('GET', `/events/${ev.id}`, undefined, stack.token)).body, { title: 'Launch day', description: 'Everything new, live.', visibility: 'private', attendeeLimit: 250 }, 'saved as the API says');
  page.once('dialog', (d) => void d.accept());
  await page.getByRole('button', { name: 'Remove session Cancelled talk' }).click();
  await page.getByRole('region', { name: 'Sessions' }).getByText('Cancelled talk').waitFor({ state: 'detached' });
  t.equal((await stack.api('GET', `/sessions/${ses.id}`, undefined, stack.token)).status, 404, 'the session is gone');
});
