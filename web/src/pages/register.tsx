// Register, and set a password with a one-time token (imported users). The token arrives in the
// link's #fragment, which browsers never send to a server nor put in a Referer; the page takes it
// out of the address at once, so it stays in no history entry either.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';

function useForm() {
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (fn: () => Promise<string>) => {
    setBusy(true);
    setError(null);
    try {
      setDone(await fn());
    } catch (err) {
      setError(err instanceof ApiError ? err.words : 'That did not work. Try again.');
    } finally {
      setBusy(false);
    }
  };
  return { error, done, busy, run };
}

/** A page with one form: its heading, the form until it is done, then what happened and a way to sign in. */
function FormPage(o: { title: string; f: ReturnType<typeof useForm>; submit: string; onSubmit: () => void; children: ComponentChildren; after?: ComponentChildren }) {
  return (
    <main class="narrow">
      <h1>{o.title}</h1>
      {o.f.done ? (
        <p role="status">
          {o.f.done} <a href="/signin">Sign in</a>
        </p>
      ) : (
        <form
          class="stack"
          onSubmit={(e) => {
            e.preventDefault();
            o.onSubmit();
          }}
        >
          {o.children}
          {o.f.error && <p role="alert" class="error">{o.f.error}</p>}
          <button type="submit" disabled={o.f.busy}>
            {o.submit}
          </button>
          {o.after}
        </form>
      )}
    </main>
  );
}

export function Register() {
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const f = useForm();
  return (
    <FormPage
      title="Create an account"
      f={f}
      submit="Create account"
      onSubmit={() => void f.run(async () => (await api<{ message: string }>('POST', '/auth/register', { name, email, password })).message)}
      after={
        <p class="muted">
          Have an account? <a href="/signin">Sign in</a>
        </p>
      }
    >
      <label>
        Name
        <input name="name" autocomplete="name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label>
        E-mail
        <input type="email" name="email" autocomplete="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
      </label>
      <label>
        Password
        <input type="password" name="password" autocomplete="new-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
      </label>
    </FormPage>
  );
}

/** Reads the one-time token from #token=… and removes it from the address. */
function takeToken(): string | null {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (location.hash) history.replaceState(null, '', location.pathname);
  return token;
}

export function SetPassword() {
  const [token] = useState(takeToken);
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const f = useForm();
  if (!token) {
    return (
      <main class="narrow">
        <h1>Set your password</h1>
        <p role="alert" class="error">
          This link has no token. Open the link you were given as it is, or ask an organiser for a new one.
        </p>
      </main>
    );
  }
  return (
    <FormPage
      title="Set your password"
      f={f}
      submit="Set password"
      onSubmit={() => {
        if (password !== again) return void f.run(async () => Promise.reject(new ApiError(400, 'mismatch', 'The two passwords differ.')));
        void f.run(async () => {
          await api('POST', '/auth/set-password', { token, password });
          return 'Your password is set.';
        });
      }}
    >
      <label>
        New password
        <input type="password" autocomplete="new-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
      </label>
      <label>
        Repeat the password
        <input type="password" autocomplete="new-password" required value={again} onInput={(e) => setAgain(e.currentTarget.value)} />
      </label>
    </FormPage>
  );
}
