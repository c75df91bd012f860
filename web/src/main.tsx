// The attendee app: one shell for every attendee page; signed-out visitors are sent to sign in
// and brought back to the page they opened.
import { render } from 'preact';
import { useEffect } from 'preact/hooks';
import './styles.css';
import { api } from './api.js';
import { EventPage } from './pages/event.js';
import { Events } from './pages/events.js';
import { Register, SetPassword } from './pages/register.js';
import { SignIn } from './pages/signin.js';
import { Watch } from './pages/watch.js';
import { Frame } from './frame.js';
import { navigate, usePath } from './router.js';
import { clearToken, readMe } from './session.js';

/** Pages a signed-out visitor may open. */
const PUBLIC = ['/signin', '/register', '/set-password'];

function App() {
  const path = usePath();
  const me = readMe();
  const pathname = path.split('?')[0]!;
  const needsSignIn = !PUBLIC.includes(pathname) && !me;
  useEffect(() => {
    if (needsSignIn) navigate(`/signin?next=${encodeURIComponent(path)}`, { replace: true });
    else if (pathname === '/') navigate('/events', { replace: true });
  }, [path, needsSignIn]);
  if (needsSignIn) return null;

  async function signOut() {
    await api('POST', '/auth/logout').catch(() => undefined);
    clearToken();
    navigate('/signin', { replace: true });
  }

  return (
    <Frame
      path={path}
      header={
        <header class="bar">
          <a href="/events" class="brand">
            Onair
          </a>
          {me && (
            <nav aria-label="Account">
              <span class="muted">{me.name}</span>
              {me.role !== 'attendee' && <a href="/console">Console</a>}
              <button type="button" class="link" onClick={signOut}>
                Sign out
              </button>
            </nav>
          )}
        </header>
      }
    >
      {page(pathname)}
    </Frame>
  );
}

function page(pathname: string) {
  if (pathname === '/signin') return <SignIn />;
  if (pathname === '/register') return <Register />;
  if (pathname === '/set-password') return <SetPassword />;
  if (pathname === '/events') return <Events />;
  const event = /^\/events\/([0-9a-f-]{36})$/.exec(pathname);
  if (event) return <EventPage key={event[1]} eventId={event[1]!} />;
  const watch = /^\/watch\/([0-9a-f-]{36})$/.exec(pathname);
  if (watch) return <Watch key={watch[1]} sessionId={watch[1]!} />;
  return <NotFound />;
}

function NotFound() {
  return (
    <main>
      <h1>Not found</h1>
      <p>
        This page does not exist. <a href="/events">See the events</a>.
      </p>
    </main>
  );
}

render(<App />, document.getElementById('app')!);
