// The organiser console (/console): staff, and speakers for their sessions' tools (My sessions,
// the only page a speaker gets); an attendee is sent back to the events. One shell; its pages
// follow the address like the attendee app's.
import { render } from 'preact';
import '../styles.css';
import { Frame } from '../frame.js';
import { usePath } from '../router.js';
import { readMe } from '../session.js';
import { ConsoleEvent, ConsoleEvents } from './events.js';
import { MySessions } from './my-sessions.js';
import { StreamPage } from './stream.js';
import { Streams } from './streams.js';
import { Users } from './users.js';

function Console() {
  const path = usePath();
  const me = readMe();
  if (!me) {
    location.replace(`/signin?next=${encodeURIComponent(location.pathname)}`);
    return null;
  }
  if (me.role === 'attendee') {
    location.replace('/events');
    return null;
  }
  const staff = me.role === 'admin' || me.role === 'moderator';
  const pathname = path.split('?')[0]!;
  let page;
  const stream = /^\/console\/streams\/([0-9a-f-]{36})$/.exec(pathname);
  const event = /^\/console\/events\/([0-9a-f-]{36})$/.exec(pathname);
  if (pathname === '/console' || pathname === '/console/') {
    page = staff ? <Streams /> : <MySessions name={me.name} />;
  } else if (pathname === '/console/streams' && staff) page = <Streams />;
  else if (stream && staff) page = <StreamPage streamId={stream[1]!} canEdit={me.role === 'admin'} />;
  else if (pathname === '/console/events' && staff) page = <ConsoleEvents />;
  else if (pathname === '/console/users' && me.role === 'admin') page = <Users />;
  else if (event && staff) page = <ConsoleEvent key={event[1]} eventId={event[1]!} admin={me.role === 'admin'} />;
  else page = <MySessions name={me.name} />;
  return (
    <Frame
      path={path}
      header={
        <header class="bar">
          <a href="/console" class="brand">
            Onair console
          </a>
          <nav aria-label="Console">
            {staff && <a href="/console/events">Events</a>}
            {staff && <a href="/console/streams">Streams</a>}
            {me.role === 'admin' && <a href="/console/users">Users</a>}
            <a href="/console/my-sessions">My sessions</a>
            <a href="/events">Back to the events</a>
          </nav>
        </header>
      }
    >
      {page}
    </Frame>
  );
}

render(<Console />, document.getElementById('app')!);
