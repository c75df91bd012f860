// When a session's viewer URLs may play (pure; the playback gate applies it, README "Viewer analytics").
// A stream carries its sessions one after another; each session owns a window of the stream:
//   opens  at its start minus the lead, but never before the previous session on the stream closed
//          (a URL handed out early must not play the session before it);
//   closes at its end plus the grace, or later while the broadcast runs over (the stream's current
//          publish began inside the session's window and is still on), but never after the next
//          session on the stream starts (an attendee of one session must not watch the next one).
// So two sessions of one stream are never open at the same time. Staff previews have no window.

export interface WindowRules {
  leadMs: number;
  graceMs: number;
}

export interface Slot {
  startsAt: Date;
  endsAt: Date;
}

export interface WindowInput {
  session: Slot;
  /** The session before it on the same stream (by start), if any. */
  previous: Slot | null;
  /** When the next session on the same stream starts, if any. */
  nextStartsAt: Date | null;
  /** When the stream's current publish began, if a broadcaster is on now. */
  publishStartedAt: Date | null;
  now: Date;
}

export interface PlaybackWindow {
  opensAt: Date;
  /** null: open for as long as the current publish lasts (running over, no next session). */
  closesAt: Date | null;
  /** Whether the session's current publish keeps it open past its end plus the grace. */
  overrun: boolean;
  open: boolean;
}

const within = (t: number | null, from: number, to: number) => t !== null && t >= from && t < to;

/** When a session closes, ∞ while it runs over and no session follows. */
function closeOf(rules: WindowRules, o: { opensAt: number; endsAt: number; nextStartsAt: number | null; publishStartedAt: number | null }) {
  const baseClose = o.endsAt + rules.graceMs;
  const overrun = within(o.publishStartedAt, o.opensAt, baseClose);
  const close = Math.min(o.nextStartsAt ?? Infinity, overrun ? Infinity : baseClose);
  return { close, overrun };
}

export function playbackWindow(rules: WindowRules, input: WindowInput): PlaybackWindow {
  const start = input.session.startsAt.getTime();
  const publish = input.publishStartedAt?.getTime() ?? null;
  const next = input.nextStartsAt?.getTime() ?? null;
  let previousClose = -Infinity;
  if (input.previous) {
    // The previous session's own opening is taken as its start minus the lead (the one before it
    // is not looked at): close enough to tell whose broadcast the current publish is.
    const p = input.previous;
    previousClose = closeOf(rules, { opensAt: p.startsAt.getTime() - rules.leadMs, endsAt: p.endsAt.getTime(), nextStartsAt: start, publishStartedAt: publish }).close;
  }
  const opensAt = Math.max(start - rules.leadMs, previousClose); // previousClose ≤ start: capped by this start
  const { close, overrun } = closeOf(rules, { opensAt, endsAt: input.session.endsAt.getTime(), nextStartsAt: next, publishStartedAt: publish });
  const now = input.now.getTime();
  return {
    opensAt: new Date(opensAt),
    closesAt: close === Infinity ? null : new Date(close),
    overrun: overrun && now >= input.session.endsAt.getTime() + rules.graceMs && now < close,
    open: now >= opensAt && now < close,
  };
}
