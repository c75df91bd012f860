// Local rooms: delivery to members only, and slow readers closed instead of buffered without end.
import t from 'tap';
import type { WebSocket } from 'ws';
import { silentLog } from '../log.js';
import { CLOSE_TOO_SLOW, createRooms, HARD_BUFFER_BYTES, SLOW_FOR_MS, SOFT_BUFFER_BYTES, type Conn } from './rooms.js';

function fakeConn(id: string, userId = id) {
  const ws = { OPEN: 1, readyState: 1, bufferedAmount: 0, sent: [] as string[], closed: null as number | null, send(d: Buffer | string) { this.sent.push(String(d)); }, close(code: number) { this.closed = code; }, terminate() { this.readyState = 3; } };
  const conn: Conn = { id, ws: ws as unknown as WebSocket, principal: { id: userId, role: 'attendee', deviceId: id, expiresAt: Infinity }, name: id, recheck: () => Promise.reject(new Error('unused')), rooms: new Map(), slowSince: null };
  return { conn, ws };
}

t.test('frames go to the members of the room only, once per socket', async (t) => {
  const rooms = createRooms({ log: silentLog() });
  const a = fakeConn('a');
  const b = fakeConn('b');
  const c = fakeConn('c', 'a'); // a second tab of user a
  rooms.join(a.conn, 'session:s1', 'e1');
  rooms.join(c.conn, 'session:s1', 'e1');
  rooms.join(b.conn, 'session:s2', 'e1');
  t.notOk(rooms.join(a.conn, 'session:s1', 'e1'), 'joining twice is a no-op');
  rooms.deliver('session:s1', Buffer.from('x'));
  t.same([a.ws.sent, b.ws.sent, c.ws.sent], [['x'], [], ['x']]);
  t.same([...rooms.usersIn('session:s1')], ['a'], 'one person, two tabs');
  t.equal(rooms.userSockets('session:s1', 'a'), 2);
  rooms.leaveAll(a.conn);
  t.equal(rooms.userSockets('session:s1', 'a'), 1);
  t.same(rooms.localRooms().sort(), ['session:s1', 'session:s2']);
});

t.test('a socket over the hard limit is closed at once', async (t) => {
  const rooms = createRooms({ log: silentLog() });
  const a = fakeConn('a');
  rooms.join(a.conn, 'session:s', 'e');
  a.ws.bufferedAmount = HARD_BUFFER_BYTES + 1;
  rooms.deliver('session:s', Buffer.from('x'));
  t.equal(a.ws.closed, CLOSE_TOO_SLOW);
  t.same(a.ws.sent, [], 'nothing more is buffered');
  t.equal(rooms.droppedSlow, 1);
});

t.test('a socket over the soft limit is closed only if it stays there too long', async (t) => {
  let now = 1_000_000;
  const rooms = createRooms({ log: silentLog(), now: () => now });
  const a = fakeConn('a');
  rooms.join(a.conn, 'session:s', 'e');
  a.ws.bufferedAmount = SOFT_BUFFER_BYTES + 1;
  rooms.deliver('session:s', Buffer.from('1'));
  now += SLOW_FOR_MS - 1;
  rooms.deliver('session:s', Buffer.from('2'));
  t.equal(a.ws.closed, null, 'a burst is tolerated');
  a.ws.bufferedAmount = 0;
  rooms.deliver('session:s', Buffer.from('3'));
  t.equal(a.conn.slowSince, null, 'catching up resets the clock');
  a.ws.bufferedAmount = SOFT_BUFFER_BYTES + 1;
  rooms.deliver('session:s', Buffer.from('4'));
  now += SLOW_FOR_MS + 1;
  rooms.deliver('session:s', Buffer.from('5'));
  t.equal(a.ws.closed, CLOSE_TOO_SLOW, 'slow for too long: closed');
  t.same(a.ws.sent, ['1', '2', '3', '4']);
});

t.test('a large room is written in slices, every socket getting the frames in order', async (t) => {
  const rooms = createRooms({ log: silentLog() });
  const conns = Array.from({ length: 1000 }, (_, i) => fakeConn(`c${i}`));
  for (const c of conns) rooms.join(c.conn, 'session:big', 'e');
  rooms.deliver('session:big', Buffer.from('1'));
  rooms.deliver('session:big', Buffer.from('2'));
  t.ok(conns.at(-1)!.ws.sent.length < 2, 'not all written in one turn');
  await new Promise((r) => setTimeout(r, 50));
  t.ok(conns.every((c) => c.ws.sent.join() === '1,2'), 'all in order');
});

t.test('a hold keeps later frames back until it settles; who left meanwhile gets none of them', async (t) => {
  const rooms = createRooms({ log: silentLog() });
  const [a, b] = [fakeConn('a'), fakeConn('b')];
  rooms.join(a.conn, 'session:s', 'e');
  rooms.join(b.conn, 'session:s', 'e');
  rooms.deliver('session:s', Buffer.from('before'));
  let release!: () => void;
  rooms.hold('session:s', new Promise<void>((r) => (release = r)));
  rooms.deliver('session:s', Buffer.from('after'));
  await new Promise((r) => setImmediate(r));
  t.same([a.ws.sent, b.ws.sent], [['before'], ['before']], 'what came before the hold went out; what came after waits');
  rooms.leave(b.conn, 'session:s');
  release();
  await new Promise((r) => setImmediate(r));
  t.same([a.ws.sent, b.ws.sent], [['before', 'after'], ['before']]);
  rooms.hold('session:s', Promise.reject(new Error('check failed')));
  rooms.deliver('session:s', Buffer.from('later'));
  await new Promise((r) => setImmediate(r));
  t.same(a.ws.sent, ['before', 'after', 'later'], 'a failed hold releases the room too');
});

t.test('per-role delivery: a frame with `only` reaches the sockets it accepts, in the room’s order', async (t) => {
  const rooms = createRooms({ log: silentLog() });
  const staff = fakeConn('staff');
  staff.conn.principal.role = 'moderator';
  const attendee = fakeConn('attendee');
  const speaker = fakeConn('speaker');
  for (const c of [staff, attendee, speaker]) rooms.join(c.conn, 'session:s', 'e');
  const speakers = new Set(['speaker']);
  rooms.deliver('session:s', Buffer.from('everyone'));
  rooms.deliver('session:s', Buffer.from('staff+speakers'), (c) => c.principal.role === 'moderator' || speakers.has(c.principal.id));
  rooms.deliver('session:s', Buffer.from('after'));
  t.same(staff.ws.sent, ['everyone', 'staff+speakers', 'after']);
  t.same(speaker.ws.sent, ['everyone', 'staff+speakers', 'after']);
  t.same(attendee.ws.sent, ['everyone', 'after'], 'the attendee never gets it');
});
