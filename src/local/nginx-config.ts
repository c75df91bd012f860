// Renders nginx/onair.conf.template. Pure apart from reading the template.
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DENY_MARKERS, OPEN_MARKERS, PREVIEW_SESSION_B64, REPLAY_MARKERS } from '../analytics/playback.js';
import { NGINX_DIR, WEB_DIR } from '../paths.js';
import { THUMBNAIL_NAME } from '../thumbnails.js';
import { PART_FILE_CACHE, toOrigin } from './nginx-llhls.js';

export interface NginxVars {
  httpPort: number;
  mediaDir: string;
  /** RECORDINGS_DIR: replays and downloads are served from it under /replay/ (none when absent). */
  recordingsDir?: string;
  /** UPLOADS_DIR: uploaded branding images, served under /uploads/ (nginx/onair.conf.template). */
  uploadsDir: string;
  runDir: string; // pid file and *_temp_path dirs
  logDir: string;
  apiUpstreams: string[];
  /** ORIGIN_UPSTREAMS: the LL-HLS playlist origins; none = LL requests are 404 (a missing file, as before). */
  originUpstreams?: string[];
  workerProcesses?: number | 'auto';
  user?: string | null; // only meaningful when nginx starts as root
  /** Per-viewer playback tokens (PLAYBACK_TOKENS=on): the secret nginx checks them with. */
  playbackSecret?: string | null;
  /** The built web face (dist/site); the shipped one unless a test says otherwise. */
  webDir?: string;
}

// The web face's HTML shells: never cached; no referrer leaves them (a set-password link's token
// sits in the #fragment, and no page URL goes to another site); only this origin's scripts,
// styles, images, media (hls.js feeds the video from blob: URLs, and runs a worker from one) and
// connections (/api, /ws).
const WEB_SHELL_HEADERS = [
  `add_header Cache-Control "no-cache" always;`,
  `add_header Referrer-Policy "no-referrer" always;`,
  `add_header X-Content-Type-Options nosniff always;`,
  `add_header X-Frame-Options DENY always;`,
  `add_header Content-Security-Policy "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'" always;`,
].map((l) => `      ${l}`).join('\n');

export function renderNginxConfig(vars: NginxVars, template = readFileSync(path.join(NGINX_DIR, 'onair.conf.template'), 'utf8')): string {
  const webDir = vars.webDir ?? WEB_DIR;
  for (const [name, dir] of [['mediaDir', vars.mediaDir], ['recordingsDir', vars.recordingsDir ?? '/'], ['uploadsDir', vars.uploadsDir], ['runDir', vars.runDir], ['logDir', vars.logDir], ['webDir', webDir]] as const) {
    // these land unquoted in the config: refuse what would change its meaning
    if (!/^\/[A-Za-z0-9_./@+-]*$/.test(dir)) throw new Error(`${name} "${dir}" must be an absolute path without spaces or special characters for nginx.`);
  }
  const values: Record<string, string> = {
    httpPort: String(vars.httpPort),
    mediaDir: vars.mediaDir,
    uploadsDir: vars.uploadsDir,
    runDir: vars.runDir,
    logDir: vars.logDir,
    webDir,
    webShellHeaders: WEB_SHELL_HEADERS,
    apiUpstreams: vars.apiUpstreams.map((u) => `    server ${u} max_fails=0;`).join('\n'),
    originUpstreams: vars.originUpstreams?.length ? vars.originUpstreams.map((u) => `    server ${u} max_fails=0;`).join('\n') : `    server 127.0.0.1:9 down; # no origin configured`,
    workerProcesses: String(vars.workerProcesses ?? 'auto'),
    userDirective: vars.user ? `user ${vars.user};` : '',
    ...viewerBlocks(vars),
    replayLocation: replayLocation(vars),
  };
  return template.replace(/\{\{(\w+)\}\}/g, (m, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`The nginx template uses an unknown placeholder ${m}.`);
    return v;
  });
}

// HLS viewer analytics (README "Viewer analytics"). A viewer's playback URL is
// /hls/<playbackId>/v/<viewerId>.<expires>.<signature>/master.m3u8; players resolve variant and
// segment URLs relative to it, so every request of that player carries the token. nginx checks
// the signature with its secure_link module (forged: 403, expired: 410), serves the same files as
// the plain path, and writes one short line per request into a buffered file that the viewer-line
// forwarder (src/analytics/forwarder.ts) carries to every API node, which folds them into viewer
// counts and watch time. The plain /hls/<playbackId>/ path stays open to loopback only (health
// checks, local tools). The token never reaches a log: the access log line for these requests
// names the path after it, and the viewer line the viewer id only. A served viewer request is
// logged once, as a viewer line (it holds what the access log would: time, status, bytes, path);
// refused ones go to the access log.
function viewerBlocks(vars: NginxVars): { viewerHttp: string; viewerLocation: string; plainHlsAccess: string } {
  if (!vars.playbackSecret) return { viewerHttp: '', viewerLocation: '', plainHlsAccess: '' };
  if (!/^[A-Za-z0-9_-]{32,128}$/.test(vars.playbackSecret)) throw new Error('The playback secret must be 32 to 128 letters, digits, "-" or "_".');
  const viewerHttp = [
    `  # HLS viewer analytics: see src/local/nginx-config.ts`,
    `  log_format onair_viewer 'v1 $msec $onair_vid $status $body_bytes_sent $onair_vpath $request_id';`,
    `  log_format onair_hls '$remote_addr - $remote_user [$time_local] "$request_method /hls/$onair_pid/v/-/$onair_vpath" $status $body_bytes_sent "$http_user_agent"';`, // no referer: a page URL is not ours to log
    // A viewer line only for a GET/HEAD whose token checked ($secure_link 1) and that nginx
    // served (200, 206 for a Range, 304 for a revalidation). Anything answered before or
    // without the token check (OPTIONS' 204, 403/410 refusals, 404, 405 for POST) is not a
    // viewer: it goes to the access log instead, and the collector never hears of it.
    `  map "$request_method:$status:$secure_link" $onair_viewer_ok { "~^(GET|HEAD):(200|206|304):1$" 1; default 0; }`,
    `  map $onair_viewer_ok $onair_viewer_failed { 1 0; default 1; }`,
    `  map $onair_vext $onair_hls_cache { m3u8 "no-cache"; default "public, max-age=86400, immutable"; }`,
    // replays (src/recordings/urls.ts): the same viewer lines, tagged r1 so that they count with their own flag
    `  log_format onair_replay_viewer 'r1 $msec $onair_vid $status $body_bytes_sent $onair_vpath $request_id';`,
    `  log_format onair_replay '$remote_addr - $remote_user [$time_local] "$request_method /replay/$onair_rid/v/-/$onair_vpath" $status $body_bytes_sent "$http_user_agent"';`,
  ].join('\n');
  // Two viewer locations, one per kind of file, so that each gets the file cache that fits it:
  // playlists are rewritten every segment (renamed over), so nginx must open them anew each time;
  // segments never change once written, so their descriptors — and the gate's marker lookups on
  // segment requests — may be kept for a second (the measured cost: see gateChecks).
  const viewerLocation = [viewerLocationOf(vars, 'playlist'), viewerLocationOf(vars, 'part'), viewerLocationOf(vars, 'segment'), thumbnailLocation(vars)].join('\n');
  const plainHlsAccess = `      # the plain path (no viewer token) is for this machine only while playback tokens are on\n      allow 127.0.0.1;\n      allow ::1;\n      deny all;`;
  return { viewerHttp, viewerLocation, plainHlsAccess };
}

/** A viewer's own URL of one kind of file: token checked, the playback gate asked, each served request logged for analytics. */
function viewerLocationOf(vars: NginxVars, kind: 'playlist' | 'part' | 'segment'): string {
  const ext = { playlist: 'm3u8', part: 'm4s', segment: 'ts|mp4' }[kind];
  return [
    `      # a viewer's own URL, ${kind}s (token checked here, each request logged for analytics)`,
    `      location ~ "${VIEWER_PREFIX}(?<onair_vpath>(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}/)?[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\\.(?<onair_vext>${ext}))$" {`,
    `        allow all;`,
    `        log_not_found off; # the path holds the token: a missing file must not log it`,
    // served requests are logged once, as viewer lines; everything else (refusals, OPTIONS, POST) in the access log
    `        access_log ${vars.logDir}/nginx-access.log onair_hls if=$onair_viewer_failed;`,
    `        access_log ${viewerLinesFile(vars.runDir)} onair_viewer buffer=32k flush=1s if=$onair_viewer_ok;`,
    `        if ($request_method = OPTIONS) { add_header Access-Control-Allow-Origin "*"; add_header Access-Control-Allow-Methods "GET, HEAD, OPTIONS"; add_header Access-Control-Allow-Headers "Range"; add_header Access-Control-Max-Age 86400; return 204; }`,
    `        secure_link $onair_vsig,$onair_vexp;`,
    `        secure_link_md5 "$onair_vexp$onair_pid$onair_vid ${vars.playbackSecret}";`,
    `        if ($secure_link = "") { return 403; }`,
    `        if ($secure_link = "0") { return 410; }`,
    { playlist: `        open_file_cache off;`, part: PART_FILE_CACHE, segment: SEGMENT_FILE_CACHE }[kind],
    ...gateChecks(vars.mediaDir),
    ...(kind === 'segment' ? [] : toOrigin(kind)),
    `        alias ${vars.mediaDir}/hls/$onair_pid/$onair_vpath;`,
    `        add_header Cache-Control $onair_hls_cache always;`,
    `        add_header Access-Control-Allow-Origin "*" always;`,
    `        add_header Access-Control-Expose-Headers "Content-Length, Content-Range" always;`,
    `      }`,
  ].join('\n');
}

/** The viewer token path's prefix, up to the file: the same regex in every viewer location. */
const VIEWER_PREFIX = `^/hls/(?<onair_pid>[A-Za-z0-9_-]{1,64})/v/(?<onair_vid>(?<onair_vsess>[A-Za-z0-9_-]{22})[A-Za-z0-9_-]{22})\\.(?<onair_vexp>[0-9]{1,12})\\.(?<onair_vsig>[A-Za-z0-9_-]{22})/`;

/**
 * A live stream's thumbnail (src/thumbnails.ts) through the viewer's own token: the same signature
 * and playback gate as the playlists, but a thumbnail is not watching, so it never becomes a
 * viewer line (lists and consoles fetch it every few seconds); the access log has it, token masked.
 * The worker renames a new picture over it every few seconds: no file cache, no caching by clients.
 */
function thumbnailLocation(vars: NginxVars): string {
  return [
    `      # a viewer's own URL, the live thumbnail (token and gate checked; not a viewer line)`,
    `      location ~ "${VIEWER_PREFIX}(?<onair_vpath>${THUMBNAIL_NAME.replace('.', '\\.')})$" {`,
    `        allow all;`,
    `        log_not_found off; # the path holds the token: a missing file must not log it`,
    `        access_log ${vars.logDir}/nginx-access.log onair_hls;`,
    `        if ($request_method = OPTIONS) { add_header Access-Control-Allow-Origin "*"; add_header Access-Control-Allow-Methods "GET, HEAD, OPTIONS"; add_header Access-Control-Max-Age 86400; return 204; }`,
    `        secure_link $onair_vsig,$onair_vexp;`,
    `        secure_link_md5 "$onair_vexp$onair_pid$onair_vid ${vars.playbackSecret}";`,
    `        if ($secure_link = "") { return 403; }`,
    `        if ($secure_link = "0") { return 410; }`,
    `        open_file_cache off;`,
    ...gateChecks(vars.mediaDir),
    `        alias ${vars.mediaDir}/hls/$onair_pid/${THUMBNAIL_NAME};`,
    `        add_header Cache-Control "no-cache" always;`,
    `        add_header Access-Control-Allow-Origin "*" always;`,
    `      }`,
  ].join('\n');
}

/**
 * Segments never change once written: their descriptors (and, in a viewer location, the gate's
 * marker lookups) are kept up to a second. A lookup costs nginx an openat() per path component
 * under disable_symlinks; measured with wrk on the development machine, the two marker checks
 * uncached cost ~50 µs per request (as much again as serving the segment), cached ~0.
 */
const SEGMENT_FILE_CACHE = `        open_file_cache max=20000 inactive=20s; open_file_cache_valid 1s; open_file_cache_errors on;`;

// The playback gate (src/analytics/playback-gate.ts): a valid signature is not enough; the URL's
// session must be open now (its marker file exists) and its viewer not denied (a ban). nginx looks
// the files up on every playlist request (no file cache there), so an API node's change applies to
// the next playlist at once, and to segment requests within a second (their location keeps lookups
// a second). Staff previews (the all-zero session) have no session window.
function gateChecks(mediaDir: string): string[] {
  return [
    `        set $onair_gate "";`,
    `        if (!-f ${mediaDir}/${OPEN_MARKERS}/$onair_vsess) { set $onair_gate "closed"; }`,
    `        if ($onair_vsess = "${PREVIEW_SESSION_B64}") { set $onair_gate ""; }`,
    `        if (-f ${mediaDir}/${DENY_MARKERS}/$onair_vid) { set $onair_gate "denied"; }`,
    `        if ($onair_gate) { return 403; }`,
  ];
}

// Replays and downloads of recordings (src/recordings/): their own path, /replay/<recordingId>/…,
// served out of RECORDINGS_DIR — never under /hls/<playbackId>/, so a live URL never opens a
// recording. With playback tokens each URL is a viewer's own, signed over "replay/<recordingId>"
// (a live token cannot open a recording, nor one recording's token another), and gated like live:
// the recording must be replayable (<media>/access/replay/<recordingId>, written by the playback
// gate while it is ready) and the viewer not denied (a ban from the event). Playlists and segments
// are viewer lines (r1: replay); the poster is not watching and goes to the access log; the MP4
// download is a viewer line too, served as an attachment under its file name. Range requests are
// nginx's own for static files (206).
function replayLocation(vars: NginxVars): string {
  if (!vars.recordingsDir) return `    location /replay/ { return 404; }`;
  const rec = vars.recordingsDir;
  const types = `      types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; video/mp4 mp4; image/jpeg jpg; }`;
  const cors = [`        add_header Access-Control-Allow-Origin "*" always;`, `        add_header Access-Control-Expose-Headers "Content-Length, Content-Range" always;`];
  const options = `        if ($request_method = OPTIONS) { add_header Access-Control-Allow-Origin "*"; add_header Access-Control-Allow-Methods "GET, HEAD, OPTIONS"; add_header Access-Control-Allow-Headers "Range"; add_header Access-Control-Max-Age 86400; return 204; }`;
  const id = `(?<onair_rid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})`;
  const file = `(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}/)?[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\\.(?<onair_vext>m3u8|ts)`;
  const download = `download/(?<onair_dlname>[A-Za-z0-9][A-Za-z0-9_.-]{0,100}\\.mp4)`;
  if (!vars.playbackSecret) {
    // tokens off: plain URLs, like the plain /hls/ path
    return [
      `    location /replay/ {`,
      `      disable_symlinks on from=${rec};`,
      types,
      `      location ~ "^/replay/${id}/(?<onair_vpath>${file}|poster\\.jpg)$" {`,
      `        alias ${rec}/$onair_rid/$onair_vpath;`,
      options,
      ...cors,
      `      }`,
      `      location ~ "^/replay/${id}/${download}$" {`,
      `        alias ${rec}/$onair_rid/recording.mp4;`,
      `        add_header Content-Disposition 'attachment; filename="$onair_dlname"' always;`,
      ...cors,
      `      }`,
      `      return 404;`,
      `    }`,
    ].join('\n');
  }
  const token = `v/(?<onair_vid>(?<onair_vsess>[A-Za-z0-9_-]{22})[A-Za-z0-9_-]{22})\\.(?<onair_vexp>[0-9]{1,12})\\.(?<onair_vsig>[A-Za-z0-9_-]{22})`;
  const check = (o: { viewerLine: boolean }) => [
    `        log_not_found off; # the path holds the token: a missing file must not log it`,
    ...(o.viewerLine
      ? [`        access_log ${vars.logDir}/nginx-access.log onair_replay if=$onair_viewer_failed;`, `        access_log ${viewerLinesFile(vars.runDir)} onair_replay_viewer buffer=32k flush=1s if=$onair_viewer_ok;`]
      : [`        access_log ${vars.logDir}/nginx-access.log onair_replay;`]),
    options,
    `        secure_link $onair_vsig,$onair_vexp;`,
    `        secure_link_md5 "\${onair_vexp}replay/$onair_rid$onair_vid ${vars.playbackSecret}";`,
    `        if ($secure_link = "") { return 403; }`,
    `        if ($secure_link = "0") { return 410; }`,
    `        set $onair_gate "";`,
    `        if (!-f ${vars.mediaDir}/${REPLAY_MARKERS}/$onair_rid) { set $onair_gate "closed"; }`,
    `        if (-f ${vars.mediaDir}/${DENY_MARKERS}/$onair_vid) { set $onair_gate "denied"; }`,
    `        if ($onair_gate) { return 403; }`,
  ];
  return [
    `    location /replay/ {`,
    `      # token paths: no error lines (they name the request line); refusals show in the access log`,
    `      error_log ${vars.logDir}/nginx-error.log emerg;`,
    `      log_not_found off;`,
    `      disable_symlinks on from=${rec};`,
    types,
    `      # a viewer's replay: playlists and segments (a VOD never changes once ready)`,
    `      location ~ "^/replay/${id}/${token}/(?<onair_vpath>${file})$" {`,
    ...check({ viewerLine: true }),
    `        alias ${rec}/$onair_rid/$onair_vpath;`,
    `        add_header Cache-Control $onair_hls_cache always;`,
    ...cors,
    `      }`,
    `      # the MP4 download, as an attachment with its file name`,
    `      location ~ "^/replay/${id}/${token}/(?<onair_vpath>${download})$" {`,
    ...check({ viewerLine: true }),
    `        alias ${rec}/$onair_rid/recording.mp4;`,
    `        add_header Content-Disposition 'attachment; filename="$onair_dlname"' always;`,
    `        add_header Cache-Control "private, max-age=3600" always;`,
    ...cors,
    `      }`,
    `      # the poster: a still for lists, not watching (no viewer line)`,
    `      location ~ "^/replay/${id}/${token}/(?<onair_vpath>poster\\.jpg)$" {`,
    ...check({ viewerLine: false }),
    `        alias ${rec}/$onair_rid/poster.jpg;`,
    `        add_header Cache-Control "private, max-age=3600" always;`,
    ...cors,
    `      }`,
    `      return 404;`,
    `    }`,
  ].join('\n');
}

/** Where nginx writes viewer lines for the forwarder. */
export const viewerLinesFile = (runDir: string) => path.join(runDir, 'viewer-lines.log');

/** Writes the rendered config under <dataDir>/nginx and returns how to run nginx in the foreground. */
export function prepareNginx(o: { dataDir: string; logDir: string; httpPort: number; mediaDir: string; recordingsDir: string; uploadsDir: string; apiUpstreams: string[]; originUpstreams?: string[]; runAsRoot: boolean; playbackSecret: string | null }) {
  const runDir = path.join(o.dataDir, 'nginx');
  for (const d of [runDir, o.logDir]) mkdirSync(d, { recursive: true, mode: 0o755 });
  // the media dir may be a read-only or foreign-owned volume (compose): prepare it only if we can
  for (const d of [o.mediaDir, path.join(o.mediaDir, 'hls')]) {
    try {
      mkdirSync(d, { recursive: true, mode: 0o755 });
      chmodSync(d, 0o755);
    } catch {
      // nginx answers 404 until the worker creates the directory
    }
  }
  // disable_symlinks refuses a link anywhere in a served path, the media dir's own included:
  // give nginx the resolved path (e.g. /var/run → /run) so only links inside it are refused
  const mediaDir = existsSync(o.mediaDir) ? realpathSync(o.mediaDir) : o.mediaDir;
  // the recordings dir likewise (a separate volume if the operator wants; the worker creates it)
  try {
    mkdirSync(o.recordingsDir, { recursive: true, mode: 0o755 });
  } catch {
    // read-only or foreign-owned (compose): replay answers 404 until it exists
  }
  const recordingsDir = existsSync(o.recordingsDir) ? realpathSync(o.recordingsDir) : o.recordingsDir;
  // and the uploads dir (the api writes into it; a volume shared with the api under compose)
  try {
    mkdirSync(o.uploadsDir, { recursive: true, mode: 0o755 });
  } catch {
    // read-only or foreign-owned: /uploads/ answers 404 until the api's first upload creates it
  }
  const uploadsDir = existsSync(o.uploadsDir) ? realpathSync(o.uploadsDir) : o.uploadsDir;
  const conf = path.join(runDir, 'nginx.conf');
  writeFileSync(
    conf,
    renderNginxConfig({
      httpPort: o.httpPort,
      mediaDir,
      recordingsDir,
      uploadsDir,
      runDir,
      logDir: o.logDir,
      apiUpstreams: o.apiUpstreams,
      originUpstreams: o.originUpstreams,
      // as root the workers drop to www-data (Debian's nginx user); otherwise they keep our uid
      user: o.runAsRoot ? 'www-data' : null,
      playbackSecret: o.playbackSecret,
    }),
    { mode: 0o600 }, // it may hold the playback secret; the master reads it before dropping privileges
  );
  chmodSync(conf, 0o600);
  return {
    command: 'nginx',
    args: ['-p', runDir, '-c', conf, '-e', path.join(o.logDir, 'nginx-error.log')],
    conf,
    pidFile: path.join(runDir, 'nginx.pid'),
    /** Where nginx writes viewer lines (null with playback tokens off): hand it to the forwarder. */
    viewerLines: o.playbackSecret ? viewerLinesFile(runDir) : null,
  };
}
