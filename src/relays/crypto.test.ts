import { randomUUID } from 'node:crypto';
import t from 'tap';
import { openKey, RelayKeyError, sealKey } from './crypto.js';

const k = (id: string, fill: number) => ({ id, key: Buffer.alloc(32, fill) });
const id = randomUUID();

t.test('round trip; a fresh nonce each time; the first key encrypts, every key decrypts', async (t) => {
  const plaintext = 'live_1234_abcdEFGH';
  const a = sealKey({ keys: [k('new', 2), k('old', 1)], destinationId: id, plaintext });
  const b = sealKey({ keys: [k('new', 2), k('old', 1)], destinationId: id, plaintext });
  t.equal(a.keyId, 'new');
  t.notSame(a.nonce, b.nonce, 'a new nonce per encryption');
  t.notOk(a.ciphertext.includes(Buffer.from(plaintext)), 'not in the clear');
  t.equal(openKey({ keys: [k('new', 2)], destinationId: id, sealed: a }), plaintext);
  const old = sealKey({ keys: [k('old', 1)], destinationId: id, plaintext });
  t.equal(openKey({ keys: [k('new', 2), k('old', 1)], destinationId: id, sealed: old }), plaintext, 'an old key still decrypts during a rotation');
});

t.test('an unknown key id is refused with a reason, and the message holds no key', async (t) => {
  const sealed = sealKey({ keys: [k('old', 1)], destinationId: id, plaintext: 'secret-key-9999' });
  const err = t.throws(() => openKey({ keys: [k('new', 2)], destinationId: id, sealed })) as RelayKeyError;
  t.equal(err.reason, 'unknown_key_id');
  t.match(err.message, /RELAY_KEYS id "old", which is no longer configured/);
  t.notMatch(err.message, /secret-key/);
});

t.test('tampering is detected: ciphertext, tag, nonce, another row, another key under the same id', async (t) => {
  const sealed = sealKey({ keys: [k('a', 1)], destinationId: id, plaintext: 'secret-key-9999' });
  const flip = (b: Buffer, i: number) => {
    const c = Buffer.from(b);
    c[i] = c[i]! ^ 1;
    return c;
  };
  const tries: [string, Parameters<typeof openKey>[0]][] = [
    ['a ciphertext byte', { keys: [k('a', 1)], destinationId: id, sealed: { ...sealed, ciphertext: flip(sealed.ciphertext, 0) } }],
    ['a tag byte', { keys: [k('a', 1)], destinationId: id, sealed: { ...sealed, ciphertext: flip(sealed.ciphertext, sealed.ciphertext.length - 1) } }],
    ['the nonce', { keys: [k('a', 1)], destinationId: id, sealed: { ...sealed, nonce: flip(sealed.nonce, 3) } }],
    ['copied onto another destination', { keys: [k('a', 1)], destinationId: randomUUID(), sealed }],
    ['another key under the same id', { keys: [k('a', 7)], destinationId: id, sealed }],
  ];
  for (const [what, o] of tries) {
    const err = t.throws(() => openKey(o), what) as RelayKeyError;
    t.equal(err.reason, 'tampered', what);
  }
});

t.test('no keys configured: encrypting is refused with a clear 503', async (t) => {
  t.throws(() => sealKey({ keys: [], destinationId: id, plaintext: 'x' }), { status: 503, code: 'relay_keys_missing' });
});
