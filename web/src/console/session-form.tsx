// One session's fields in the console, for adding a session and for editing one: title,
// description, start and end, speakers (people who may speak: speakers, moderators and admins,
// found by name or e-mail) and the stream that carries it. What the API refuses is shown next to
// the field it names (problem+json `errors[].field`, e.g. body.startsAt or body.speakerIds.0).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import type { Stream } from './streams.js';
import { fromLocal, TimeFields } from './time-fields.js';

export interface Speaker {
  id: string;
  name: string;
}
export interface SessionDraft {
  title: string;
  description: string;
  /** datetime-local values */
  startsAt: string;
  endsAt: string;
  speakers: Speaker[];
  /** '' for none */
  streamId: string;
}
/** The body of POST /events/:id/sessions and PUT /sessions/:id. */
export interface SessionBody {
  title: string;
  description: string;
  startsAt: string;
  endsAt: string;
  speakerIds: string[];
  streamId: string | null;
}
type Field = 'title' | 'description' | 'startsAt' | 'endsAt' | 'speakerIds' | 'streamId';
const FIELDS: readonly Field[] = ['title', 'description', 'startsAt', 'endsAt', 'speakerIds', 'streamId'];
/** Roles a session's speaker may have (an attendee is made a speaker in Users first). */
const SPEAKER_ROLES = ['speaker', 'moderator', 'admin'] as const;

/** The refusal split by field (body.speakerIds.0 → speakerIds); what names no field stays general. */
export function splitErrors(err: unknown): { fields: Partial<Record<Field, string>>; general: string | null } {
  if (!(err instanceof ApiError)) return { fields: {}, general: 'That did not work.' };
  // a stream already carrying another session at that time is about the stream field
  if (err.code === 'stream_in_use') return { fields: { streamId: err.message }, general: null };
  const fields: Partial<Record<Field, string>> = {};
  const rest: string[] = [];
  for (const f of err.fields) {
    const name = f.field.replace(/^body\./, '').split('.')[0] as Field;
    if (FIELDS.includes(name)) fields[name] = fields[name] ? `${fields[name]} ${f.message}` : f.message;
    else rest.push(f.message);
  }
  const general = rest.length > 0 ? rest.join(' ') : err.fields.length === 0 ? err.message : null;
  return { fields, general };
}

function FieldError({ id, message }: { id: string; message: string | undefined }) {
  return message ? (
    <span id={id} class="error field-error">
      {message}
    </span>
  ) : null;
}
/** aria attributes tying a field to its error message (shown beside the label, not in it: the name stays the label). */
const invalid = (id: string, message: string | undefined) => (message ? { 'aria-invalid': true as const, 'aria-describedby': id } : {});

export function SessionForm(o: {
  /** The form's accessible name, e.g. "New session" or "Edit session Keynote". */
  name: string;
  /** A visible heading (the new-session form has one; an edit form sits under its session). */
  heading?: string;
  /** Unique among the forms on the page (ids of the error messages). */
  formId: string;
  initial: SessionDraft;
  streams: Stream[];
  submitLabel: string;
  save: (body: SessionBody) => Promise<unknown>;
  onSaved: () => Promise<void> | void;
  onCancel?: () => void;
}) {
  const [d, setD] = useState<SessionDraft>(o.initial);
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<SessionDraft>) => {
    setD((x) => ({ ...x, ...patch }));
    // a field changed since the refusal no longer carries its message
    const changed = Object.keys(patch).map((k) => (k === 'speakers' ? 'speakerIds' : k) as Field);
    setErrors((e) => (changed.some((f) => e[f]) ? Object.fromEntries(Object.entries(e).filter(([f]) => !changed.includes(f as Field))) : e));
  };
  const eid = (f: Field) => `${o.formId}-${f}-error`;

  async function submit(e: Event) {
    e.preventDefault();
    setErrors({});
    setGeneral(null);
    setBusy(true);
    try {
      await o.save({ title: d.title, description: d.description, startsAt: fromLocal(d.startsAt), endsAt: fromLocal(d.endsAt), speakerIds: d.speakers.map((s) => s.id), streamId: d.streamId || null });
      await o.onSaved();
    } catch (err) {
      const split = splitErrors(err);
      setErrors(split.fields);
      setGeneral(split.general);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="panel stack session-form" aria-label={o.name} onSubmit={submit}>
      {o.heading && <h3>{o.heading}</h3>}
      <div class="field">
        <label>
          Session title
          <input required maxLength={200} value={d.title} onInput={(e) => set({ title: e.currentTarget.value })} {...invalid(eid('title'), errors.title)} />
        </label>
        <FieldError id={eid('title')} message={errors.title} />
      </div>
      <div class="field">
        <label>
          Description
          <textarea rows={2} maxLength={5000} value={d.description} onInput={(e) => set({ description: e.currentTarget.value })} {...invalid(eid('description'), errors.description)} />
        </label>
        <FieldError id={eid('description')} message={errors.description} />
      </div>
      <div class="row-form">
        <TimeFields
          prefix="Session"
          idPrefix={o.formId}
          startsAt={d.startsAt}
          endsAt={d.endsAt}
          setStartsAt={(v) => set({ startsAt: v })}
          setEndsAt={(v) => set({ endsAt: v })}
          errors={{ startsAt: errors.startsAt, endsAt: errors.endsAt }}
        />
        <div class="field">
          <label>
            Stream
            <select value={d.streamId} onChange={(e) => set({ streamId: e.currentTarget.value })} {...invalid(eid('streamId'), errors.streamId)}>
              <option value="">none</option>
              {o.streams.map((s) => (
                <option key={s.id} value={s.id}>
                  {s.title}
                </option>
              ))}
            </select>
          </label>
          <FieldError id={eid('streamId')} message={errors.streamId} />
        </div>
      </div>
      <SpeakerPicker speakers={d.speakers} setSpeakers={(speakers) => set({ speakers })} error={errors.speakerIds} errorId={eid('speakerIds')} />
      {general && (
        <p role="alert" class="error">
          {general}
        </p>
      )}
      {/* field errors are announced too (each sits next to its field) */}
      <p role="status" class="visually-hidden">
        {Object.keys(errors).length > 0 ? `Not saved: ${Object.values(errors).join(' ')}` : ''}
      </p>
      <div class="actions">
        <button type="submit" disabled={busy}>
          {o.submitLabel}
        </button>
        {o.onCancel && (
          <button type="button" class="link" onClick={o.onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

interface Person extends Speaker {
  email: string;
  role: string;
}

/** The chosen speakers (each removable) and a search for more among the people who may speak. */
function SpeakerPicker(o: { speakers: Speaker[]; setSpeakers: (s: Speaker[]) => void; error?: string; errorId: string }) {
  const [q, setQ] = useState('');
  const [found, setFound] = useState<Person[]>([]);
  const [searchError, setSearchError] = useState<string | null>(null);
  // answers may come back out of order while someone types: only the latest search shows
  const latest = useRef(0);
  useEffect(() => {
    const mine = ++latest.current;
    if (!q.trim()) return setFound([]);
    const t = setTimeout(() => {
      const query = `limit=10&q=${encodeURIComponent(q.trim())}`;
      Promise.all(SPEAKER_ROLES.map((role) => api<{ items: Person[] }>('GET', `/users?${query}&role=${role}`)))
        .then((lists) => {
          if (mine !== latest.current) return;
          setSearchError(null);
          setFound(lists.flatMap((l) => l.items).sort((a, b) => a.name.localeCompare(b.name)));
        })
        .catch((err) => setSearchError(err instanceof ApiError ? err.words : 'The search failed.'));
    }, 250);
    return () => clearTimeout(t);
  }, [q]);
  const chosen = new Set(o.speakers.map((s) => s.id));
  return (
    <fieldset class="stack" aria-describedby={o.error ? o.errorId : undefined}>
      <legend>Speakers</legend>
      {o.speakers.length === 0 ? (
        <p class="muted">No speakers yet.</p>
      ) : (
        <ul class="chips" aria-label="Chosen speakers">
          {o.speakers.map((s) => (
            <li key={s.id}>
              {s.name}{' '}
              <button type="button" class="link" aria-label={`Remove speaker ${s.name}`} onClick={() => o.setSpeakers(o.speakers.filter((x) => x.id !== s.id))}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <FieldError id={o.errorId} message={o.error} />
      <label>
        Find a speaker
        <input type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} placeholder="name or e-mail of a speaker, moderator or admin" />
      </label>
      {searchError && <p role="alert" class="error">{searchError}</p>}
      {q.trim() !== '' && (
        <ul class="cards" aria-label="People found">
          {found.filter((p) => !chosen.has(p.id)).map((p) => (
            <li key={p.id}>
              <button type="button" class="link" aria-label={`Add speaker ${p.name}`} onClick={() => o.setSpeakers([...o.speakers, { id: p.id, name: p.name }])}>
                Add {p.name}
              </button>{' '}
              <span class="muted">
                {p.email} · {p.role}
              </span>
            </li>
          ))}
        </ul>
      )}
    </fieldset>
  );
}
