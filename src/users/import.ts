// Bulk import, the pure part: turns a CSV text or a JSON array into rows, validates each row on its
// own, and finds emails repeated inside the file. The service creates the remaining rows in one
// transaction and fills in the report.
import { z } from 'zod';
import { AppError, badRequest } from '../errors.js';
import type { Role } from './repo.js';
import { CsvError, parseCsv } from './csv.js';
import { emailSchema, nameSchema, roleSchema } from './view.js';

export const IMPORT_MAX_ROWS = 20_000;
const COLUMNS = ['email', 'name', 'role'] as const;

export type ImportStatus = 'created' | 'skipped' | 'failed';

export interface ImportResult {
  /** CSV: the physical line the record starts on (the header is line 1). JSON: 1-based array index. */
  line: number;
  email: string;
  status: ImportStatus;
  reason?: string;
  userId?: string;
  setPasswordToken?: string;
}

export interface ImportCandidate {
  /** Index into ImportPlan.results. */
  index: number;
  email: string;
  name: string;
  role: Role;
}

export interface ImportPlan {
  /** One entry per row, in file order; candidates' entries are completed by completeImport. */
  results: ImportResult[];
  /** Valid rows with an email not seen earlier in the file. */
  candidates: ImportCandidate[];
}

export type ImportBody = string | unknown[] | { users: unknown[] };

const rowSchema = z
  .object(
    {
      email: z.string({ message: 'email must be text' }).trim().pipe(emailSchema),
      name: z.string({ message: 'name must be text' }).pipe(nameSchema),
      role: z
        .string({ message: 'role must be text' })
        .trim()
        .toLowerCase()
        .transform((r) => (r === '' ? 'attendee' : r))
        .pipe(roleSchema)
        .nullish(),
    },
    {
      error: (iss) =>
        iss.code === 'invalid_type'
          ? 'the row must be an object with email, name and role'
          : iss.code === 'unrecognized_keys'
            ? `unknown field ${iss.keys.map((k) => JSON.stringify(k)).join(', ')}; a row has email, name and role`
            : undefined,
    },
  )
  .strict();

interface RawRow {
  line: number;
  input: unknown;
  /** Why the row could not even be read (CSV only). */
  error?: string;
}

/** Validates every row and marks in-file duplicates. Throws 400 for an unreadable CSV, 413 for too many rows. */
export function planImport(body: ImportBody): ImportPlan {
  const rows = typeof body === 'string' ? csvRows(body) : jsonRows(Array.isArray(body) ? body : body.users);
  const results: ImportResult[] = [];
  const candidates: ImportCandidate[] = [];
  const firstLine = new Map<string, number>();
  for (const row of rows) {
    const email = emailOf(row.input);
    const fail = (reason: string) => results.push({ line: row.line, email, status: 'failed', reason });
    if (row.error) {
      fail(row.error);
      continue;
    }
    const parsed = rowSchema.safeParse(row.input);
    if (!parsed.success) {
      fail(parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'row'}: ${i.message}`).join('; '));
      continue;
    }
    const key = parsed.data.email.toLowerCase();
    const seen = firstLine.get(key);
    if (seen !== undefined) {
      results.push({ line: row.line, email: parsed.data.email, status: 'skipped', reason: `duplicate of line ${seen}` });
      continue;
    }
    firstLine.set(key, row.line);
    candidates.push({ index: results.length, email: parsed.data.email, name: parsed.data.name, role: parsed.data.role ?? 'attendee' });
    results.push({ line: row.line, email: parsed.data.email, status: 'skipped' });
  }
  return { results, candidates };
}

/** Fills in the candidates' results: created (with id and token) or skipped because the email exists. */
export function completeImport(plan: ImportPlan, created: Map<string, { userId: string; token: string }>) {
  for (const c of plan.candidates) {
    const r = plan.results[c.index]!;
    const made = created.get(c.email);
    if (made) Object.assign(r, { status: 'created', userId: made.userId, setPasswordToken: made.token });
    else Object.assign(r, { status: 'skipped', reason: 'already exists' });
  }
  const count = (s: ImportStatus) => plan.results.filter((r) => r.status === s).length;
  return { created: count('created'), skipped: count('skipped'), failed: count('failed'), results: plan.results };
}

function emailOf(input: unknown): string {
  const e = typeof input === 'object' && input !== null ? (input as { email?: unknown }).email : undefined;
  return typeof e === 'string' ? e.trim().slice(0, 320) : '';
}

const tooMany = (n: number) =>
  new AppError(413, 'payload_too_large', `An import takes at most ${IMPORT_MAX_ROWS.toLocaleString('en')} rows; this one has ${n.toLocaleString('en')}. Split it into several files.`);

function jsonRows(items: unknown[]): RawRow[] {
  if (items.length > IMPORT_MAX_ROWS) throw tooMany(items.length);
  return items.map((input, i) => ({ line: i + 1, input }));
}

function csvRows(text: string): RawRow[] {
  let records;
  try {
    records = parseCsv(text);
  } catch (err) {
    if (err instanceof CsvError) throw badRequest(`The CSV cannot be read: ${err.message}`, { errors: [{ field: 'body', message: err.message }] });
    throw err;
  }
  const [header, ...data] = records;
  if (!header) throw csvHeaderError('The CSV is empty; it needs a header row: email,name,role.');
  if (data.length > IMPORT_MAX_ROWS) throw tooMany(data.length);
  const names = header.fields.map((f) => f.trim().toLowerCase());
  const unknown = names.filter((n) => !(COLUMNS as readonly string[]).includes(n));
  if (header.error || unknown.length) {
    const what = header.error ?? `unknown column${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => JSON.stringify(u)).join(', ')}`;
    throw csvHeaderError(`The CSV header (line ${header.line}) has ${what}; it must name the columns email, name and role (role may be left out), in any order.`);
  }
  const repeated = names.find((n, i) => names.indexOf(n) !== i);
  if (repeated) throw csvHeaderError(`The CSV header (line ${header.line}) names the column "${repeated}" twice.`);
  const missing = ['email', 'name'].filter((c) => !names.includes(c));
  if (missing.length) throw csvHeaderError(`The CSV header (line ${header.line}) has no ${missing.join(' or ')} column; it must name email, name and role.`);
  return data.map((r) => {
    const input = Object.fromEntries(names.map((n, i) => [n, r.fields[i]]));
    if (r.error) return { line: r.line, input, error: `row: ${r.error}` };
    if (r.fields.length !== names.length) {
      return { line: r.line, input, error: `row: expected ${names.length} fields (${names.join(',')}), found ${r.fields.length}` };
    }
    return { line: r.line, input };
  });
}

const csvHeaderError = (message: string) => badRequest(message, { errors: [{ field: 'body', message }] });
