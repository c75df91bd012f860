// The watch page's first-load JavaScript, gzipped, stays under its budget (250 KB): what the
// attendee shell names (its entry and the chunks it preloads) plus the player (hls.js), which the
// watch page loads on arrival. Measured on the build npm test makes (dist/site).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { WEB_DIR } from '../paths.js';

const BUDGET = 250 * 1024;

t.test('the watch page loads under 250 KB of gzipped JavaScript', async (t) => {
  const html = readFileSync(path.join(WEB_DIR, 'index.html'), 'utf8');
  const named = [...html.matchAll(/(?:src|href)="\/assets\/([^"]+\.js)"/g)].map((m) => m[1]!);
  t.ok(named.length >= 1, 'the shell names its scripts');
  const player = readdirSync(path.join(WEB_DIR, 'assets')).filter((f) => /^hls\.light-.*\.js$/.test(f));
  t.equal(player.length, 1, 'the player is a chunk of its own (loaded on the watch page only)');
  const files = [...new Set([...named, ...player])];
  const sizes = files.map((f) => gzipSync(readFileSync(path.join(WEB_DIR, 'assets', f)), { level: 9 }).length);
  const total = sizes.reduce((a, b) => a + b, 0);
  t.comment(`watch page first-load JavaScript: ${(total / 1024).toFixed(1)} KB gzipped (${files.map((f, i) => `${f.replace(/-[\w-]{8}\.js$/, '')} ${(sizes[i]! / 1024).toFixed(1)}`).join(', ')})`);
  t.ok(total < BUDGET, `${(total / 1024).toFixed(1)} KB < 250 KB`);
  const console = readFileSync(path.join(WEB_DIR, 'console.html'), 'utf8');
  t.notMatch(console, /hls\.light/, 'the console shell does not preload the player');
});
