// Chat beside the video. History on load, then live messages in one order: every message has a
// `seq` (1, 2, 3 … per session, no gaps); a frame that skips a number, and every reconnect, makes
// the page read what it missed (?after=) before it shows anything newer — a dropped connection
// loses nothing (README "Order and resync"). Own messages show at once and are reconciled by
// their clientMsgId; the pinned message stays on top; who is typing; the server's notices
// (slow mode, muted, banned, chat off) in words.
import { useEffect, useRef, useState } from 'preact/hooks';
import { action } from './actions.js';
import { api, ApiError } from './api.js';
import type { ChatMessage, ChatSettings, Realtime } from './realtime.js';
import { readMe } from './session.js';

interface History {
  items: ChatMessage[];
  nextCursor: string | null;
  pinned: ChatMessage | null;
  lastSeq: number;
}
interface Pending {
  clientMsgId: string;
  text: string;
  failed?: string;
}

export function Chat({ sessionId, eventId, rt, staff }: { sessionId: string; eventId: string; rt: Realtime; staff: boolean }) {
  const me = readMe();
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [pending, setPending] = useState<Pending[]>([]);
  const [pinned, setPinned] = useState<ChatMessage | null>(null);
  const [settings, setSettings] = useState<ChatSettings | null>(null);
  const [typing, setTyping] = useState<Map<string, { name: string; until: number }>>(new Map());
  const [text, setText] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const list = useRef<HTMLOListElement>(null);
  // the ordering state lives outside renders: frames arrive between them
  const st = useRef({ lastSeq: 0, newestId: null as string | null, syncing: false, held: [] as ChatMessage[], lastTypingSent: 0 });

  useEffect(() => {
    const s = st.current;
    const show = (m: ChatMessage) => {
      s.lastSeq = Math.max(s.lastSeq, m.seq);
      s.newestId = m.id;
      setMessages((all) => (all.some((x) => x.id === m.id) ? all : [...all, m].slice(-500)));
      if (m.clientMsgId) setPending((p) => p.filter((x) => x.clientMsgId !== m.clientMsgId));
    };
    const applyHeld = () => {
      const held = s.held.sort((a, b) => a.seq - b.seq);
      s.held = [];
      for (const m of held) if (m.seq > s.lastSeq) show(m);
    };
    async function resync() {
      if (s.syncing) return;
      s.syncing = true;
      try {
        if (s.newestId === null) {
          const h = await api<History>('GET', `/chat/session/${sessionId}?limit=50`);
          h.items.forEach(show);
          setPinned(h.pinned);
          s.lastSeq = Math.max(s.lastSeq, h.lastSeq);
        } else {
          let after: string | null = s.newestId;
          while (after) {
            const h: History = await api<History>('GET', `/chat/session/${sessionId}?after=${encodeURIComponent(after)}&limit=100`);
            h.items.forEach(show);
            setPinned(h.pinned);
            s.lastSeq = Math.max(s.lastSeq, h.lastSeq);
            after = h.nextCursor;
          }
        }
        setSettings(await api<ChatSettings>('GET', `/chat/session/${sessionId}/settings`));
      } catch (err) {
        setNotice(err instanceof ApiError ? err.message : 'The chat could not be loaded.');
      } finally {
        s.syncing = false;
        applyHeld();
      }
    }
    const offs = [
      rt.on('chat:message', ({ message: m }) => {
        if (m.sessionId !== sessionId) return;
        if (s.syncing) return void s.held.push(m);
        if (m.seq <= s.lastSeq) return; // a repeat
        if (m.seq > s.lastSeq + 1) {
          s.held.push(m); // one was missed: read it first
          return void resync();
        }
        show(m);
      }),
      rt.on('chat:pinned', (f) => f.sessionId === sessionId && setPinned(f.message)),
      rt.on('chat:deleted', (f) => {
        if (f.sessionId !== sessionId) return;
        setMessages((all) => all.filter((m) => m.id !== f.messageId));
        setPinned((p) => (p?.id === f.messageId ? null : p));
      }),
      rt.on('chat:settings', (f) => f.settings.sessionId === sessionId && setSettings(f.settings)),
      rt.on('typing', (f) => {
        if (f.sessionId !== sessionId || f.user.id === me?.id) return;
        setTyping((t) => new Map(t).set(f.user.id, { name: f.user.name, until: Date.now() + 3_000 }));
      }),
      rt.onState((connected) => connected && void resync()),
    ];
    void resync();
    const sweep = setInterval(() => setTyping((t) => (t.size === 0 ? t : new Map([...t].filter(([, v]) => v.until > Date.now())))), 1_000);
    return () => {
      offs.forEach((off) => off());
      clearInterval(sweep);
    };
  }, [sessionId]);

  useEffect(() => {
    const el = list.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [messages.length, pending.length]);

  async function send(e: Event) {
    e.preventDefault();
    const body = text.trim();
    if (!body) return;
    const clientMsgId = randomId();
    setPending((p) => [...p, { clientMsgId, text: body }]);
    setText('');
    setNotice(null);
    try {
      // the answer comes after the commit; the room's chat:message (with its seq) follows
      await api('POST', `/chat/session/${sessionId}`, { text: body, clientMsgId });
    } catch (err) {
      const words = err instanceof ApiError ? err.message : 'Not sent. Try again.';
      setPending((p) => p.map((x) => (x.clientMsgId === clientMsgId ? { ...x, failed: words } : x)));
      setNotice(words);
    }
  }

  /** A moderation step: its refusal (if any) is told in the server's words. */
  const moderate = action(setNotice);
  const changeSettings = (change: Partial<ChatSettings>) =>
    moderate(async () => setSettings(await api<ChatSettings>('PUT', `/chat/session/${sessionId}/settings`, { enabled: settings?.enabled ?? true, slowModeSeconds: settings?.slowModeSeconds ?? 0, attendeesOnly: settings?.attendeesOnly ?? false, ...change })))();

  function onInput(value: string) {
    setText(value);
    const s = st.current;
    if (value && Date.now() - s.lastTypingSent > 2_000) {
      s.lastTypingSent = Date.now();
      rt.send({ type: 'typing', sessionId });
    }
  }

  const typers = [...typing.values()].map((t) => t.name);
  const rules = settings && [!settings.enabled && 'Chat is off.', settings.slowModeSeconds > 0 && `Slow mode: one message every ${settings.slowModeSeconds} s.`, settings.attendeesOnly && 'Only attendees may write.'].filter(Boolean).join(' ');
  return (
    <section class="chat" aria-label="Chat">
      <h2>Chat</h2>
      {pinned && (
        <p class="pinned" aria-label="Pinned message">
          <strong>{pinned.user.name}</strong>: {pinned.text}
        </p>
      )}
      {rules && <p class="muted">{rules}</p>}
      {staff && settings && (
        <div class="row-form" role="group" aria-label="Chat settings">
          <label class="inline">
            <input type="checkbox" checked={settings.enabled} onChange={(e) => changeSettings({ enabled: e.currentTarget.checked })} /> Chat on
          </label>
          <label class="inline">
            Slow mode
            <select value={String(settings.slowModeSeconds)} onChange={(e) => changeSettings({ slowModeSeconds: Number(e.currentTarget.value) })}>
              {[0, 5, 10, 30, 60].map((n) => (
                <option key={n} value={String(n)}>
                  {n === 0 ? 'off' : `${n} s`}
                </option>
              ))}
            </select>
          </label>
          <label class="inline">
            <input type="checkbox" checked={settings.attendeesOnly} onChange={(e) => changeSettings({ attendeesOnly: e.currentTarget.checked })} /> Attendees only
          </label>
        </div>
      )}
      <ol ref={list} class="messages" aria-label="Messages" aria-live="polite">
        {messages.map((m) => (
          <li key={m.id} aria-label={`${m.user.name}: ${m.text}`}>
            <strong>{m.user.name}</strong> {m.text}
            {(staff || m.user.id === me?.id) && (
              <span class="tools" role="group" aria-label={`Moderate: ${m.text}`}>
                {staff && (
                  <button type="button" class="link" onClick={moderate(() => api('PATCH', `/chat/${m.id}/pin`, { pinned: pinned?.id !== m.id }))}>
                    {pinned?.id === m.id ? 'Unpin' : 'Pin'}
                  </button>
                )}
                <button type="button" class="link" onClick={moderate(() => api('DELETE', `/chat/${m.id}`))}>
                  Delete
                </button>
                {staff && m.user.id !== me?.id && (
                  <>
                    <button type="button" class="link" onClick={moderate(() => api('POST', `/events/${eventId}/mutes`, { userId: m.user.id, minutes: 10 }))}>
                      Mute 10 min
                    </button>
                    <button
                      type="button"
                      class="link"
                      onClick={moderate(async () => {
                        if (confirm(`Ban ${m.user.name} from this event?`)) await api('POST', `/events/${eventId}/bans`, { userId: m.user.id });
                      })}
                    >
                      Ban
                    </button>
                  </>
                )}
              </span>
            )}
          </li>
        ))}
        {pending.map((p) => (
          <li key={p.clientMsgId} class="muted">
            <strong>{me?.name ?? 'You'}</strong> {p.text} {p.failed ? '(not sent)' : '(sending…)'}
          </li>
        ))}
      </ol>
      <p class="muted typing" aria-live="polite">
        {typers.length === 0 ? '' : typers.length === 1 ? `${typers[0]} is typing…` : `${typers.slice(0, 3).join(', ')} are typing…`}
      </p>
      {notice && (
        <p role="alert" class="error">
          {notice}
        </p>
      )}
      <form onSubmit={send} class="chat-form">
        <label class="inline grow">
          Message
          <input type="text" maxLength={500} value={text} onInput={(e) => onInput(e.currentTarget.value)} autocomplete="off" />
        </label>
        <button type="submit">Send</button>
      </form>
    </section>
  );
}

/** A client message id; crypto.randomUUID needs a secure context (https), getRandomValues does not. */
function randomId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
