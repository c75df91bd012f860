// Input pieces the event and session schemas share.
import { z } from 'zod';

/** An ISO 8601 date-time with offset, as a Date (years 1970–9999, so the database takes it). */
export const when = (name: string) =>
  z.iso
    .datetime({ offset: true, message: `${name} must be an ISO 8601 date-time with offset, e.g. 2030-05-01T09:00:00Z` })
    .refine((v) => {
      const y = new Date(v).getUTCFullYear();
      return Number.isNaN(y) || (y >= 1970 && y <= 9999); // not a date at all: the format message says so
    }, `${name} must lie between the years 1970 and 9999`)
    .transform((v) => new Date(v));

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const titleSchema = z
  .string({ message: 'title is required (a string)' })
  .trim()
  .min(1, 'title is required')
  .max(200, 'title is at most 200 characters');
export const descriptionSchema = z
  .string({ message: 'description must be a string' })
  .max(10_000, 'description is at most 10000 characters');
/** Both times given: the end comes after the start (a field-level message on endsAt). */
export function ordered(b: { startsAt?: unknown; endsAt?: unknown }): boolean {
  // zod runs object refinements even when a field failed (then it still holds the raw input):
  // judge only two real dates and leave the rest to the fields' own messages.
  const { startsAt: s, endsAt: e } = b;
  if (!(s instanceof Date) || !(e instanceof Date) || Number.isNaN(s.getTime()) || Number.isNaN(e.getTime())) return true;
  return e > s;
}
export const orderMessage = { message: 'endsAt must be after startsAt', path: ['endsAt'] };
