// Start and end times in the console's forms: the organiser types local time (datetime-local),
// the API keeps instants.
export const toLocal = (iso: string) => {
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};
export const fromLocal = (v: string) => new Date(v).toISOString();
export const inHours = (h: number) => toLocal(new Date(Date.now() + h * 3_600_000).toISOString());

/** What the API refused about the start or the end, shown next to that field. */
export interface TimeErrors {
  startsAt?: string;
  endsAt?: string;
}

/** A start and an end typed in local time (labels "Starts"/"Ends", or with a prefix such as "Session"). */
export function TimeFields(o: { prefix?: string; startsAt: string; endsAt: string; setStartsAt: (v: string) => void; setEndsAt: (v: string) => void; errors?: TimeErrors; idPrefix?: string }) {
  const name = (word: string) => (o.prefix ? `${o.prefix} ${word.toLowerCase()}` : word);
  const field = (word: 'Starts' | 'Ends', key: keyof TimeErrors, value: string, set: (v: string) => void) => {
    const error = o.errors?.[key];
    const id = `${o.idPrefix ?? 'times'}-${key}-error`;
    return (
      <div class="field">
        <label>
          {name(word)}
          <input type="datetime-local" required value={value} onInput={(e) => set(e.currentTarget.value)} aria-invalid={error ? true : undefined} aria-describedby={error ? id : undefined} />
        </label>
        {/* outside the label: the field's name stays its label, the message is its description */}
        {error && (
          <span id={id} class="error field-error">
            {error}
          </span>
        )}
      </div>
    );
  };
  return (
    <>
      {field('Starts', 'startsAt', o.startsAt, o.setStartsAt)}
      {field('Ends', 'endsAt', o.endsAt, o.setEndsAt)}
    </>
  );
}
