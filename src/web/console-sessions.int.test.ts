// The console's sessions in Debian's Chromium, against the whole stack: an admin edits a session
// (a refused time told next to its field, then times, a speaker found by search, the stream) and
// the watch page and the schedule follow; a speaker's console is "My sessions" — their session
// only, its stream live with its health during a publish, a new key shown once, its relay
// destinations' status, no staff pages; the event's analytics show the publish.
import t from 'tap';
import type { Page } from 'playwright-core';
import { launchBrowser } from '../testing/browser.js';
import { publishTestPattern, waitFor, type Teardown } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';
import { localTime, screenshot, signIn } from '../testing/web-pages.js';

const stack = await startStack(t, { extraEnv: { RELAY_ALLOW_PRIVATE: 'true' } }); // a relay destination on this machine
const browser = await launchBrowser(t);
const HOUR = 3_600_000;
const at = (hours: number) => new Date(Date.now() + hours * HOUR);
/** A page of its own (own storage: its own signed-in person), closed at the end of the test. */
async function person(t: Teardown): Promise<Page> {
  const context = await browser.newContext();
  t.teardown(() => context.close());
  return context.newPage();
}
async function made(method: string, path: string, body: unknown) {
  const r = await stack.api(method, path, body, stack.token);
  if (r.status >= 300) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}
/** The text of the element that describes a field (its error message). */
const description = (page: Page, field: ReturnType<Page['getByLabel']>) =>
  field.evaluate((el) => document.getElementById(el.getAttribute('aria-describedby') ?? '')?.textContent ?? null);

t.test('an admin edits a session: a refused end is told next to its field; times, a speaker found by search and the stream are saved; the watch page and the schedule follow', async (t) => {
  const ev = await made('POST', '/events', { title: 'Edit conf', startsAt: at(-1).toISOString(), endsAt: at(6).toISOString(), status: 'published' });
  const stream = await made('POST', '/streams', { title: 'Edit stream' });
  const ses = await made('POST', `/events/${ev.id}/sessions`, { title: 'Panel', startsAt: at(1).toISOString(), endsAt: at(2).toISOString() });
  const sam = await stack.user('Samira Speaker', 'speaker');
  await stack.user('Samuel Attendee', 'attendee');
  const page = await person(t);
  await signIn(page, { base: stack.base, email: 'admin@test.local', password: 'admin-password', next: `/console/events/${ev.id}` });
  await page.getByRole('button', { name: 'Edit session Panel' }).click();
  const form = page.getByRole('form', { name: 'Edit session Panel' });

  // a refusal: the end before the start, told by the API and shown next to "Session ends"
  await form.getByLabel('Session starts').fill(localTime(at(3)));
  await form.getByLabel('Session ends').fill(localTime(at(2)));
  await form.getByRole('button', { name: 'Save session' }).click();
  const ends = form.getByLabel('Session ends');
  await waitFor(async () => (await ends.getAttribute('aria-invalid')) === 'true', { what: 'the end marked invalid', timeoutMs: 10_000 });
  t.match(await description(page, ends), /endsAt must be after startsAt/, 'the server’s words, as the field’s description');
  t.equal(await form.getByLabel('Session starts').getAttribute('aria-invalid'), null, 'only the field refused is marked');

  const startsAt = at(3);
  const endsAt = at(4.5);
  await form.getByLabel('Session starts').fill(localTime(startsAt));
  await ends.fill(localTime(endsAt));
  t.equal(await ends.getAttribute('aria-invalid'), null, 'the message goes once the field is changed');
  await form.getByLabel('Description').fill('Three people, one stage.');
  await form.getByLabel('Find a speaker').fill('Sam');
  await form.getByRole('button', { name: 'Add speaker Samira Speaker' }).click();
  t.equal(await form.getByRole('button', { name: 'Add speaker Samuel Attendee' }).count(), 0, 'an attendee is not offered as a speaker');
  await form.getByRole('list', { name: 'Chosen speakers' }).getByText('Samira Speaker').waitFor();
  await form.getByLabel('Stream').selectOption({ label: 'Edit stream' });
  t.comment(`screenshot: ${await screenshot(page, { name: 'console-session-edit', width: 1280, height: 900 })}`);
  await form.getByRole('button', { name: 'Save session' }).click();
  await form.waitFor({ state: 'detached' });
  await page.getByRole('region', { name: 'Sessions' }).getByText(/with Samira Speaker/).waitFor();
  t.pass('saved: the form closes, the list shows the speaker');

  const saved = await made('GET', `/sessions/${ses.id}`, undefined);
  const minute = (d: Date) => new Date(Math.floor(d.getTime() / 60_000) * 60_000).toISOString();
  t.match(saved, { startsAt: minute(startsAt), endsAt: minute(endsAt), description: 'Three people, one stage.', streamId: stream.id, streamStatus: 'offline' }, 'as the API says');
  t.same(saved.speakers, [{ id: sam.id, name: 'Samira Speaker' }]);

  await page.goto(`${stack.base}/watch/${ses.id}`);
  await page.getByText('With Samira Speaker').waitFor();
  await page.getByRole('region', { name: 'Stream status' }).getByText(/Starting soon/).waitFor();
  t.pass('the watch page names the speaker and waits for the stream (no longer "no stream assigned")');
  await page.goto(`${stack.base}/events/${ev.id}`);
  const schedule = page.getByRole('region', { name: 'Schedule' });
  const time = new Intl.DateTimeFormat('en-US', { timeStyle: 'short', timeZone: ev.timezone });
  const entry = schedule.getByRole('listitem').filter({ hasText: 'Panel' });
  await entry.getByText('Samira Speaker', { exact: false }).waitFor();
  const text = (await entry.textContent()) ?? '';
  t.ok(text.includes(time.format(startsAt)) && text.includes(time.format(endsAt)), `the schedule shows the new times: ${text}`);

  // removing the speaker again (the chip's Remove) empties the list
  await page.goto(`${stack.base}/console/events/${ev.id}`);
  await page.getByRole('button', { name: 'Edit session Panel' }).click();
  await form.getByRole('button', { name: 'Remove speaker Samira Speaker' }).click();
  await form.getByRole('button', { name: 'Save session' }).click();
  await form.waitFor({ state: 'detached' });
  t.same((await made('GET', `/sessions/${ses.id}`, undefined)).speakers, [], 'the speaker is taken off');
});

t.test('the new-session form takes speakers and the stream; a stream busy at that time is told next to it', async (t) => {
  const ev = await made('POST', '/events', { title: 'New conf', startsAt: at(-1).toISOString(), endsAt: at(6).toISOString() });
  const stream = await made('POST', '/streams', { title: 'New stream' });
  const kim = await stack.user('Kim Moderator', 'moderator');
  const page = await person(t);
  await signIn(page, { base: stack.base, email: 'admin@test.local', password: 'admin-password', next: `/console/events/${ev.id}` });
  const form = page.getByRole('form', { name: 'New session' });
  await form.getByLabel('Session title').fill('Workshop');
  await form.getByLabel('Session starts').fill(localTime(at(1)));
  await form.getByLabel('Session ends').fill(localTime(at(2)));
  await form.getByLabel('Find a speaker').fill('Kim Mod');
  await form.getByRole('button', { name: 'Add speaker Kim Moderator' }).click();
  await form.getByLabel('Stream').selectOption({ label: 'New stream' });
  // the stream carries another event's session at that time: the conflict is told next to "Stream"
  const other = await made('POST', '/events', { title: 'Elsewhere', startsAt: at(-1).toISOString(), endsAt: at(6).toISOString() });
  await made('POST', `/events/${other.id}/sessions`, { title: 'Booked', startsAt: at(1.5).toISOString(), endsAt: at(2.5).toISOString(), streamId: stream.id });
  await form.getByRole('button', { name: 'Add session' }).click();
  const streamField = form.getByLabel('Stream');
  await waitFor(async () => (await streamField.getAttribute('aria-invalid')) === 'true', { what: 'the stream marked invalid', timeoutMs: 10_000 });
  t.match(await description(page, streamField), /already assigned to session "Booked"/, 'the conflict, next to the stream');
  await form.getByLabel('Session ends').fill(localTime(at(1.25)));
  await form.getByRole('button', { name: 'Add session' }).click();
  await page.getByRole('region', { name: 'Sessions' }).getByRole('link', { name: 'Workshop' }).waitFor();
  const [made1] = (await made('GET', `/events/${ev.id}/sessions`, undefined)).items;
  t.match(made1, { title: 'Workshop', streamId: stream.id, speakers: [{ id: kim.id, name: 'Kim Moderator' }] }, 'as the API says');
  t.equal(await form.getByLabel('Session title').inputValue(), '', 'the form is empty again for the next session');
});

t.test('a speaker’s console: My sessions with only their session, its stream live with its health, a new key shown once, the relays’ status; no staff pages; the analytics show the publish', async (t) => {
  const ev = await made('POST', '/events', { title: 'Speaker conf', startsAt: at(-1).toISOString(), endsAt: at(4).toISOString(), status: 'published' });
  const mine = await made('POST', '/streams', { title: 'Pia stream' });
  const theirs = await made('POST', '/streams', { title: 'Other stream' });
  const pia = await stack.user('Pia Speaker', 'speaker');
  const other = await stack.user('Olaf Speaker', 'speaker');
  const talk = await made('POST', `/events/${ev.id}/sessions`, { title: 'Pia talk', startsAt: at(-1).toISOString(), endsAt: at(1).toISOString(), streamId: mine.id, speakerIds: [pia.id] });
  await made('POST', `/events/${ev.id}/sessions`, { title: 'Olaf talk', startsAt: at(1).toISOString(), endsAt: at(2).toISOString(), streamId: theirs.id, speakerIds: [other.id] });
  await made('POST', `/streams/${mine.id}/destinations`, { name: 'Backup site', url: 'rtmp://127.0.0.1:9/live', streamKey: 'dk_backup_key_1234', enabled: false });

  const page = await person(t);
  await signIn(page, { base: stack.base, email: pia.email, password: 'user-password', next: '/console' });
  await page.getByRole('heading', { name: 'My sessions' }).waitFor();
  const region = page.getByRole('region', { name: 'Pia talk' });
  await region.getByRole('heading', { name: /Stream offline/ }).waitFor();
  t.equal(await page.getByRole('region', { name: 'Olaf talk' }).count(), 0, 'not another speaker’s session');
  t.notOk((await page.content()).includes('Other stream'), 'nor its stream');
  const nav = page.getByRole('navigation', { name: 'Console' });
  t.same(await nav.getByRole('link').allTextContents(), ['My sessions', 'Back to the events'], 'no Events, Streams or Users for a speaker');
  t.match(await region.getByRole('link', { name: /Watch page/ }).getAttribute('href'), new RegExp(`^/watch/${talk.id}$`), 'the watch page, where chat, polls and questions are hosted');
  const relays = region.getByRole('region', { name: 'Relay destinations' });
  await relays.getByRole('row', { name: 'Backup site' }).getByTestId('relay-state').getByText(/^idle/).waitFor();
  t.equal(await relays.getByRole('button', { name: /Remove/ }).count(), 0, 'the relays’ status, not their management');
  t.ok(await relays.getByLabel('Enabled: Backup site').isDisabled(), 'enabling is for admins');
  t.notOk((await page.content()).includes('dk_backup_key_1234'), 'the destination key is nowhere');
  for (const path of ['/console/streams', '/console/users', `/console/events/${ev.id}`]) {
    await page.goto(`${stack.base}${path}`);
    await page.getByRole('heading', { name: 'My sessions' }).waitFor();
    t.equal(await page.getByRole('heading', { name: /^(Streams|Users|Speaker conf)$/ }).count(), 0, `${path}: My sessions, not the staff page`);
  }

  const pub = publishTestPattern(t, { url: stack.rtmpUrl(mine.streamKey), width: 640, height: 360, fps: 15, seconds: 120, videoKbps: 800 });
  await region.getByRole('heading', { name: /Stream live/ }).waitFor({ timeout: 60_000 });
  const health = region.getByRole('region', { name: 'Live health of Pia talk' });
  await health.getByText('640×360 · 15 fps', { exact: false }).waitFor({ timeout: 30_000 });
  t.pass('live, with the source’s size and rate');
  await health.getByRole('list', { name: 'Publish log of Pia talk' }).waitFor();
  await health.getByRole('img', { name: 'Live picture of Pia talk' }).waitFor({ timeout: 30_000 });
  t.ok(await health.getByRole('img', { name: 'Live picture of Pia talk' }).evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth > 0), 'the live picture loads');
  t.comment(`screenshot: ${await screenshot(page, { name: 'console-my-sessions', width: 1280, height: 900 })}`);

  page.once('dialog', (d) => void d.accept());
  await region.getByRole('button', { name: 'New stream key' }).click();
  const keyBox = region.getByRole('region', { name: 'Stream key' });
  const key = await keyBox.getByLabel('Stream key').inputValue();
  t.match(key, /^live_/, 'a new key, shown');
  t.not(key, mine.streamKey, 'not the old one');
  t.match(await keyBox.textContent(), /Server rtmp:\/\//, 'with the OBS settings to paste');
  await keyBox.getByRole('button', { name: 'I have stored the key' }).click();
  await keyBox.waitFor({ state: 'detached' });
  t.notOk((await page.content()).includes(key), 'shown once: gone from the page');
  await page.reload();
  await region.getByRole('heading', { name: /Stream / }).waitFor();
  t.notOk((await page.content()).includes(key), 'and not shown again after a reload');
  // the encoder with the old key is disconnected: the publish ends
  await region.getByRole('heading', { name: /Stream (offline|reconnecting)/ }).waitFor({ timeout: 60_000 });
  t.pass('the old key’s publisher was disconnected');
  await pub.stop();

  // the organiser's analytics of the event: the publish, with its source, in the session's table
  const admin = await person(t);
  await signIn(admin, { base: stack.base, email: 'admin@test.local', password: 'admin-password', next: `/console/events/${ev.id}` });
  const publishes = admin.getByRole('region', { name: 'Analytics' }).getByRole('table', { name: 'Publishes of Pia talk' });
  await publishes.waitFor({ timeout: 20_000 });
  const headers = await publishes.getByRole('columnheader').allTextContents();
  t.ok(['Started', 'Ended', 'Duration', 'Source', 'Reconnects', 'Renditions served'].every((h) => headers.includes(h)), `named columns: ${headers.join(' | ')}`);
  const rows = publishes.getByRole('row');
  t.equal(await rows.count(), 2, 'one publish (and the header row)');
  t.match(await rows.nth(1).textContent(), /640×360 · 15 fps/, 'with the source it sent');
  t.comment(`screenshot: ${await screenshot(admin, { name: 'console-publish-health', width: 1280, height: 900 })}`);
});
