// A venue: 500 attendees behind one NAT address (conference Wi-Fi) register, sign in (one in ten
// mistyping their password first) and join the event, with the default limits. Only the argon2
// cost is the test one (PASSWORD_HASH_COST=test; the production cost is asserted in
// passwords.test.ts), so the file hashes a thousand passwords in seconds.
import t from 'tap';
import { loadConfig } from '../config.js';
import { startTestApi } from '../testing/api.js';

const ATTENDEES = 500;
const AT_ONCE = 25; // attendees going through the steps at the same time
const VENUE_IP = '100.64.10.1';

const api = await startTestApi(t, { env: { PASSWORD_HASH_COST: 'test' } });
const { call } = api;

t.test('500 attendees behind one address register, sign in and join within 10 minutes with the default limits', async (t) => {
  t.equal(api.config.passwords.cost, 'test');
  const defaults = loadConfig({ DATABASE_URL: 'postgres://x/y', REDIS_URL: 'redis://x', JWT_SECRET: 'j'.repeat(40), PLAYBACK_SECRET: 'p'.repeat(40) }, 'api');
  t.same(api.config.login, defaults.login, 'the default limits');
  t.same({ ...api.config.passwords, cost: 'standard' }, defaults.passwords, 'the default queue');
  const admin = await api.user('admin');
  const { event } = await api.liveSession(admin.token);
  const headers = { 'x-forwarded-for': VENUE_IP, 'user-agent': 'Phone' };
  const outcomes: Record<string, number> = {};
  const note = (what: string) => void (outcomes[what] = (outcomes[what] ?? 0) + 1);

  const attendee = async (i: number) => {
    const email = `attendee-${i}@venue.example`;
    const password = `venue password ${i}`;
    const reg = await call('POST', '/auth/register', { body: { email, password, name: `Attendee ${i}` }, headers });
    note(`register ${reg.status}`);
    if (i % 10 === 0) note(`typo ${(await call('POST', '/auth/login', { body: { email, password: 'venue pasword' }, headers })).status}`);
    const login = await call('POST', '/auth/login', { body: { email, password }, headers });
    note(`login ${login.status}`);
    if (login.status !== 200) return;
    const join = await call('POST', `/events/${event.id}/join`, { token: login.body.token, headers });
    note(`join ${join.status}`);
  };

  const started = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: AT_ONCE }, async () => {
      while (next < ATTENDEES) await attendee(next++);
    }),
  );
  const seconds = (Date.now() - started) / 1000;
  t.same(outcomes, { 'register 202': 500, 'typo 401': 50, 'login 200': 500, 'join 201': 500 }, 'everyone got in; a typo is just a 401');
  t.ok(seconds < 600, `all of them in ${seconds.toFixed(0)} s`);
  const count = await call('GET', `/events/${event.id}`, { token: admin.token });
  t.equal(count.body.attendeeCount, 500);
});
