// pino, JSON lines on stdout. Child loggers carry component and ids.
// Secrets never reach a log: known secret fields are redacted by path, and free text that could
// carry one (RTMP paths, ffmpeg stderr, URLs) goes through redactText first.
import { pino, type DestinationStream, type Logger } from 'pino';

export type Log = Logger;

const SECRET_FIELDS = [
  'password',
  'token',
  'ticket',
  'streamKey',
  'key',
  'authorization',
  'secret',
  '*.password',
  '*.token',
  '*.ticket',
  '*.streamKey',
  '*.authorization',
  // a request body's stream key (streams, relay destinations), should a body ever be logged
  'body.streamKey',
  'req.body.streamKey',
  '*.body.streamKey',
  'req.headers.authorization',
  'headers.authorization',
];

/** `destination`: stdout unless given (tests read what would be written). */
export function createLog(opts: { level: string; name: string; base?: Record<string, unknown>; destination?: DestinationStream }): Log {
  const options = {
    level: opts.level,
    name: opts.name,
    base: { role: opts.name, pid: process.pid, ...opts.base },
    redact: { paths: SECRET_FIELDS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** Free text longer than this is cut before redaction: a log line needs no more, and every scan stays small. */
export const MAX_REDACTED_TEXT = 4096;

/**
 * Strips what could be a secret from free text before it is logged or stored:
 * the stream name of any RTMP path (/live/<key>), `sig=`/`token=`/`ticket=`/`key=` query values and
 * passwords inside URLs. Also removes CR/LF so user text cannot forge log lines.
 *
 * The text may come from a stranger (an RTMP stream name, a hostile ffmpeg input): every step is
 * linear in its length (no pattern that backtracks over a long run), and text over
 * MAX_REDACTED_TEXT characters is cut first.
 */
export function redactText(text: string): string {
  return redactUrlPasswords(
    cut(text)
      .replace(/(rtmps?:\/\/[^\s'"/]+\/[^\s'"/?]+\/)[^\s'"?]+/gi, '$1[redacted]')
      .replace(/(\/live\/)[A-Za-z0-9_-]+/g, '$1[redacted]')
      .replace(/\b(sig|token|ticket|access_token|key|password|secret)=[^&\s'"]+/gi, '$1=[redacted]'),
  ).replace(/[\r\n]+/g, ' ');
}

const isSpace = (c: string | undefined) => c !== undefined && /\s/.test(c);

/**
 * Keeps the first MAX_REDACTED_TEXT characters. A token (run without whitespace) that the cut
 * splits is dropped whole: every secret pattern lives inside one token, and half a token could
 * be half a secret that no longer looks like one.
 */
function cut(text: string): string {
  if (text.length <= MAX_REDACTED_TEXT) return text;
  let end = MAX_REDACTED_TEXT;
  if (!isSpace(text[end])) while (end > 0 && !isSpace(text[end - 1])) end--;
  return `${text.slice(0, end)}…[${text.length - end} more characters]`;
}

/**
 * `scheme://user:PASSWORD@host` → `scheme://user:[redacted]@host`, in one forward pass.
 * (The pattern /\w+:\/\/[^:/\s]*:[^@\s]+@/ says the same but backtracks: quadratic on long runs
 * of word characters or of `a://b:` without an `@`.)
 */
function redactUrlPasswords(s: string): string {
  let out = '';
  let copied = 0;
  let from = 0;
  let stop = -1; // the first '@' or whitespace at or after the last password start looked at
  for (;;) {
    const i = s.indexOf('://', from);
    if (i < 0) break;
    from = i + 1;
    if (i === 0 || !/\w/.test(s[i - 1]!)) continue; // a scheme ends right before '://'
    let j = i + 3; // the user name runs to a ':' (its password follows), '/' or whitespace
    while (j < s.length && s[j] !== ':' && s[j] !== '/' && !isSpace(s[j])) j++;
    if (s[j] !== ':') continue;
    const start = j + 1;
    if (stop < start) {
      // password starts only move forward, so no character is scanned twice
      stop = start;
      while (stop < s.length && s[stop] !== '@' && !isSpace(s[stop])) stop++;
    }
    if (s[stop] !== '@' || stop === start) continue;
    out += `${s.slice(copied, start)}[redacted]`;
    copied = stop;
    from = stop + 1;
  }
  return out + s.slice(copied);
}

/** A logger for tests and tools that must not print. */
export function silentLog(): Log {
  return pino({ level: 'silent' });
}
