// Sign in: "E-mail", "Password", "Sign in". A visitor sent here from a page (?next=/watch/…)
// lands back on it.
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { navigate, safeNext } from '../router.js';
import { saveSession, type Me } from '../session.js';

export function SignIn() {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const next = safeNext(new URLSearchParams(location.search).get('next'));

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await api<{ token: string; user: Me }>('POST', '/auth/login', { email, password });
      saveSession(r.token, r.user);
      navigate(next, { replace: true });
    } catch (err) {
      setError(err instanceof ApiError ? err.words : 'Signing in failed. Try again.');
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="narrow">
      <h1>Sign in</h1>
      <form onSubmit={submit} class="stack">
        <label>
          E-mail
          <input type="email" name="email" autocomplete="username" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </label>
        <label>
          Password
          <input type="password" name="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <p class="muted">
          New here? <a href="/register">Create an account</a>
        </p>
      </form>
    </main>
  );
}
