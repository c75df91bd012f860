// The organiser console (/console): staff and speakers only; an attendee is sent back to the
// events. Its pages arrive with issue 13's next steps.
import { render } from 'preact';
import '../styles.css';
import { readMe } from '../session.js';

function Console() {
  const me = readMe();
  if (!me) {
    location.replace(`/signin?next=${encodeURIComponent(location.pathname)}`);
    return null;
  }
  if (me.role === 'attendee') {
    location.replace('/events');
    return null;
  }
  return (
    <main>
      <h1>Console</h1>
      <p>
        Signed in as {me.name} ({me.role}). <a href="/events">Back to the events</a>
      </p>
    </main>
  );
}

render(<Console />, document.getElementById('app')!);
