// pino, JSON lines on stdout. Child loggers carry component and ids.
// Secrets never reach a log: known secret fields are redacted by path, and free text that could
// carry one (RTMP paths, ffmpeg stderr, URLs) goes through redactText first.
import { pino, type Logger } from 'pino';

export type Log = Logger;

const SECRET_FIELDS = [
  'password',
  'token',
  'streamKey',
  'key',
  'authorization',
  'secret',
  '*.password',
  '*.token',
  '*.streamKey',
  '*.authorization',
  'req.headers.authorization',
  'headers.authorization',
];

export function createLog(opts: { level: string; name: string; base?: Record<string, unknown> }): Log {
  return pino({
    level: opts.level,
    name: opts.name,
    base: { role: opts.name, pid: process.pid, ...opts.base },
    redact: { paths: SECRET_FIELDS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/**
 * Strips what could be a secret from free text before it is logged or stored:
 * the stream name of any RTMP path (/live/<key>), `sig=`/`token=`/`key=` query values and
 * passwords inside URLs. Also removes CR/LF so user text cannot forge log lines.
 */
export function redactText(text: string): string {
  return text
    .replace(/(rtmps?:\/\/[^\s'"/]+\/[^\s'"/?]+\/)[^\s'"?]+/gi, '$1[redacted]')
    .replace(/(\/live\/)[A-Za-z0-9_-]+/g, '$1[redacted]')
    .replace(/\b(sig|token|key|password|secret)=[^&\s'"]+/gi, '$1=[redacted]')
    .replace(/(\w+:\/\/[^:/\s]*:)[^@\s]+@/g, '$1[redacted]@')
    .replace(/[\r\n]+/g, ' ');
}

/** A logger for tests and tools that must not print. */
export function silentLog(): Log {
  return pino({ level: 'silent' });
}
