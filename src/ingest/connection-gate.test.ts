import t from 'tap';
import { createConnectionGate, type Ticket } from './connection-gate.js';
import { createLogThrottle } from './log-throttle.js';

const ticket = (x: Ticket | { refused: string }): Ticket => {
  if ('refused' in x) throw new Error(`refused: ${x.refused}`);
  return x;
};

t.test('per-address and global caps on connections and on pending ones', async (t) => {
  const gate = createConnectionGate({ maxConnections: 5, maxConnectionsPerIp: 3, maxPending: 4, maxPendingPerIp: 2 });
  const a1 = ticket(gate.admit('10.0.0.1'));
  const a2 = ticket(gate.admit('10.0.0.1'));
  t.same(gate.admit('10.0.0.1'), { refused: 'pending_per_ip' }, 'two pending from one address');
  a1.settle();
  const a3 = ticket(gate.admit('10.0.0.1'));
  t.same(gate.admit('10.0.0.1'), { refused: 'connections_per_ip' }, 'three open from one address');
  const b1 = ticket(gate.admit('10.0.0.2'));
  ticket(gate.admit('10.0.0.2'));
  t.same(gate.admit('10.0.0.3'), { refused: 'connections' }, 'five open in all');
  t.same(gate.counts(), { connections: 5, pending: 4, addresses: 2 });
  a1.release(); // settled already: frees a connection, not a pending slot
  t.same(gate.admit('10.0.0.3'), { refused: 'pending' }, 'four pending in all');
  b1.settle();
  const c1 = ticket(gate.admit('10.0.0.3'));
  // release and settle are idempotent, and an address with nothing open is forgotten
  for (const x of [a1, a2, a3, c1]) {
    x.release();
    x.release();
    x.settle();
  }
  t.same(gate.counts(), { connections: 2, pending: 1, addresses: 1 });
});

t.test('the log throttle lets a burst through, then one line per interval, counting what it dropped', async (t) => {
  let now = 0;
  const throttle = createLogThrottle({ burst: 3, everyMs: 1_000, now: () => now });
  t.same([throttle.take('x'), throttle.take('x'), throttle.take('x')], [0, 0, 0]);
  for (let i = 0; i < 100; i++) t.equal(throttle.take('x'), null);
  t.equal(throttle.take('y'), 0, 'each kind has its own bucket');
  now += 1_000;
  t.equal(throttle.take('x'), 100, 'the next line says how many were dropped');
  t.equal(throttle.take('x'), null);
});
