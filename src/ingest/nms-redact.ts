// Redaction of node-media-server's log messages (kept apart from rtmp-server.ts so that it can be
// tested without the RTMP server).
import { redactText } from '../log.js';

/**
 * node-media-server's messages name stream paths (/<app>/<key>) and `name=<key>` in many
 * shapes, whatever app was used: every path-like token and name/app value goes. redactText cuts
 * the message first, and these patterns cannot backtrack beyond one path segment: linear time
 * whatever a stranger sends as an app or stream name.
 */
export function redactNmsMessage(message: string): string {
  return redactText(message)
    .replace(/\/[^\s/]+\/[^\s/,]+/g, '/[path]')
    .replace(/\b(app|name|streamPath)=[^,\s]*/g, '$1=[redacted]');
}
