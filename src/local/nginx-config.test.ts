import t from 'tap';
import { renderNginxConfig } from './nginx-config.js';

const vars = { httpPort: 8080, mediaDir: '/var/lib/onair/media', runDir: '/var/lib/onair/nginx', logDir: '/var/lib/onair/logs', uploadsDir: '/var/lib/onair/uploads', apiUpstreams: ['127.0.0.1:3000', 'api2:3000'] };

t.test('the shipped template renders with every placeholder filled', async (t) => {
  const conf = renderNginxConfig(vars);
  t.notMatch(conf, /\{\{/);
  t.match(conf, /listen 8080;/);
  t.match(conf, /root \/var\/lib\/onair\/media;/);
  t.match(conf, /server 127\.0\.0\.1:3000 max_fails=0;\n\s+server api2:3000 max_fails=0;/);
  t.match(conf, /location ~ \\\.tmp\$ \{ return 404; \}/, 'half-written files are never served');
  t.match(conf, /Cache-Control "no-cache"/);
  t.notMatch(conf, /^user /m);
  t.match(renderNginxConfig({ ...vars, user: 'www-data' }), /^user www-data;$/m);
});

t.test('paths that would change the config are refused', async (t) => {
  t.throws(() => renderNginxConfig({ ...vars, mediaDir: '/tmp/x; include /etc/passwd' }), /mediaDir/);
  t.throws(() => renderNginxConfig({ ...vars, logDir: 'relative/logs' }), /absolute path/);
  t.throws(() => renderNginxConfig(vars, 'listen {{nope}};'), /unknown placeholder/);
});

t.test('with playback tokens: the viewer location, its file log, and the plain path for loopback only', async (t) => {
  const secret = 'S'.repeat(40);
  const conf = renderNginxConfig({ ...vars, playbackSecret: secret });
  t.match(conf, /secure_link_md5 "\$onair_vexp\$onair_pid\$onair_vid S{40}";/);
  t.match(conf, /if \(\$secure_link = ""\) \{ return 403; \}/);
  t.match(conf, /if \(\$secure_link = "0"\) \{ return 410; \}/);
  t.match(conf, /access_log \/var\/lib\/onair\/nginx\/viewer-lines\.log onair_viewer buffer=32k flush=1s if=\$onair_viewer_ok;/);
  t.match(conf, /log_format onair_viewer 'v1 \$msec \$onair_vid \$status \$body_bytes_sent \$onair_vpath \$request_id';/);
  t.match(conf, /access_log \/var\/lib\/onair\/logs\/nginx-access\.log onair_hls if=\$onair_viewer_failed;/, 'served viewer requests are logged once (viewer lines); refusals in the access log');
  t.match(conf, /map "\$request_method:\$status:\$secure_link" \$onair_viewer_ok \{ "~\^\(GET\|HEAD\):\(200\|206\|304\):1\$" 1; default 0; \}/, 'a viewer line only for a token-checked GET/HEAD that nginx served');
  t.match(conf, /map \$onair_viewer_ok \$onair_viewer_failed \{ 1 0; default 1; \}/, 'everything else goes to the access log');
  t.match(conf, /allow 127\.0\.0\.1;\s+allow ::1;\s+deny all;/);
  t.notMatch(conf, /onair_vsig[^;\n]*\$request_uri/, 'the token is never logged');
  t.ok(conf.indexOf('location ~ "^/hls/') < conf.indexOf('location ~ \\.tmp$'), 'the viewer location is matched before the plain nested ones');
  // the playback gate: the session's open marker and the viewer's deny marker, stat'ed on every request
  t.match(conf, /\(\?<onair_vid>\(\?<onair_vsess>\[A-Za-z0-9_-\]\{22\}\)\[A-Za-z0-9_-\]\{22\}\)/);
  t.match(conf, /open_file_cache off;\s+set \$onair_gate "";\s+if \(!-f \/var\/lib\/onair\/media\/access\/open\/\$onair_vsess\) \{ set \$onair_gate "closed"; \}/);
  t.match(conf, /if \(\$onair_vsess = "A{22}"\) \{ set \$onair_gate ""; \}/, 'staff previews have no session window');
  t.match(conf, /if \(-f \/var\/lib\/onair\/media\/access\/deny\/\$onair_vid\) \{ set \$onair_gate "denied"; \}\s+if \(\$onair_gate\) \{ return 403; \}/);
  t.ok(conf.indexOf('return 410;') < conf.indexOf('set $onair_gate ""'), 'the signature is checked first');
  const off = renderNginxConfig(vars);
  t.notMatch(off, /secure_link|viewer-lines|deny all/, 'tokens off: none of it');
  t.throws(() => renderNginxConfig({ ...vars, playbackSecret: 'short; include /etc/passwd' }), /playback secret/);
});

t.test('replays: their own path out of RECORDINGS_DIR, personal tokens over "replay/<id>", gated, MIME types, the download as an attachment', async (t) => {
  const conf = renderNginxConfig({ ...vars, recordingsDir: '/srv/rec', playbackSecret: 'S'.repeat(40) });
  const replay = conf.slice(conf.indexOf('    location /replay/ {'), conf.indexOf('    location /api/ {'));
  t.match(replay, /disable_symlinks on from=\/srv\/rec;/);
  t.match(replay, /types \{ application\/vnd\.apple\.mpegurl m3u8; video\/mp2t ts; video\/mp4 mp4; image\/jpeg jpg; \}/);
  t.equal(replay.match(/secure_link_md5 "\$\{onair_vexp\}replay\/\$onair_rid\$onair_vid S{40}";/g)?.length, 3, 'every replay location checks the token, signed over replay/<id>');
  t.equal(replay.match(/if \(!-f \/var\/lib\/onair\/media\/access\/replay\/\$onair_rid\) \{ set \$onair_gate "closed"; \}/g)?.length, 3, 'the replay marker');
  t.equal(replay.match(/if \(-f \/var\/lib\/onair\/media\/access\/deny\/\$onair_vid\) \{ set \$onair_gate "denied"; \}/g)?.length, 3, 'and bans');
  t.match(replay, /alias \/srv\/rec\/\$onair_rid\/\$onair_vpath;/);
  t.match(replay, /alias \/srv\/rec\/\$onair_rid\/recording\.mp4;\s+add_header Content-Disposition 'attachment; filename="\$onair_dlname"' always;/);
  t.equal(replay.match(/onair_replay_viewer buffer=32k flush=1s if=\$onair_viewer_ok;/g)?.length, 2, 'playlists, segments and the download are viewer lines; the poster is not');
  t.match(conf, /log_format onair_replay_viewer 'r1 \$msec \$onair_vid \$status \$body_bytes_sent \$onair_vpath \$request_id';/);
  t.match(conf, /"~\^\(\?<onair_rp>\/replay\/\[\^\/\]\*\/v\/\)\[\^\/\]\*\(\?<onair_rr>\.\*\)\$" "\$onair_rp-\$onair_rr";/, "a token's place in a replay path is logged as -");
  t.notMatch(conf.slice(conf.indexOf('location /hls/'), conf.indexOf('    location /replay/ {')), /\/srv\/rec/, 'the live location never names the recordings dir');
  const off = renderNginxConfig({ ...vars, recordingsDir: '/srv/rec' });
  t.match(off, /location ~ "\^\/replay\/\(\?<onair_rid>[^"]*\|poster\\\.jpg\)\$" \{\s+alias \/srv\/rec\/\$onair_rid\/\$onair_vpath;/, 'tokens off: plain replay URLs');
  t.match(renderNginxConfig(vars), /location \/replay\/ \{ return 404; \}/, 'no recordings dir: nothing served');
  t.throws(() => renderNginxConfig({ ...vars, recordingsDir: '/srv/my rec' }), /recordingsDir/);
});

t.test('the live thumbnail: the viewer token and gate, no viewer line, no caching; the plain path serves it as a JPEG', async (t) => {
  const conf = renderNginxConfig({ ...vars, playbackSecret: 'S'.repeat(40) });
  const loc = /location ~ "[^"]*\(\?<onair_vpath>thumb\\\.jpg\)\$" \{[^]*?\n      \}/.exec(conf)?.[0] ?? '';
  t.ok(loc, 'a location for <token>/thumb.jpg');
  t.match(loc, /secure_link_md5 "\$onair_vexp\$onair_pid\$onair_vid S{40}";/, 'the playback token checks it');
  t.match(loc, /if \(!-f \/var\/lib\/onair\/media\/access\/open\/\$onair_vsess\)/, 'the session window applies');
  t.match(loc, /if \(-f \/var\/lib\/onair\/media\/access\/deny\/\$onair_vid\)/, 'and bans');
  t.match(loc, /access_log \/var\/lib\/onair\/logs\/nginx-access\.log onair_hls;/, 'logged in the access log, token masked');
  t.notMatch(loc, /viewer-lines|onair_viewer /, 'never a viewer line: a thumbnail is not watching');
  t.match(loc, /open_file_cache off;/);
  t.match(loc, /alias \/var\/lib\/onair\/media\/hls\/\$onair_pid\/thumb\.jpg;/, 'only the thumbnail file');
  t.match(loc, /add_header Cache-Control "no-cache" always;/);
  t.ok(conf.indexOf(loc) < conf.indexOf('location ~ "^/hls/[^/]*/v/" { return 404; }'), 'matched before token paths are refused');
  t.match(conf, /image\/jpeg jpg;/);
  t.match(renderNginxConfig(vars), /location ~ \\\.jpg\$ \{[^}]*Cache-Control "no-cache"/, 'the plain path: not cached either');
});

t.test('no log format writes the request line or the query string; the /ws and token paths write no error lines', async (t) => {
  for (const conf of [renderNginxConfig(vars), renderNginxConfig({ ...vars, playbackSecret: 'S'.repeat(40) })]) {
    for (const f of conf.match(/log_format [^;]+;/g) ?? []) t.notMatch(f, /\$request\b|\$request_uri|\$args|\$query_string|\$http_authorization/, f.slice(0, 40));
    for (const f of conf.match(/log_format [^;]+;/g) ?? []) t.notMatch(f, /\$http_referer/, `nor the referer (a page URL may hold anything): ${f.slice(11, 30)}`);
    t.match(conf, /access_log \/var\/lib\/onair\/logs\/nginx-access\.log onair_main;/, 'the server-wide access log uses the path-only format');
    t.match(conf, /"~\^\(\?<onair_lp>\/hls\/\[\^\/\]\*\/v\/\)\[\^\/\]\*\(\?<onair_lr>\.\*\)\$" "\$onair_lp-\$onair_lr";/, "a token's place in an HLS path is logged as -");
    const ws = /location = \/ws \{[^}]*\}/.exec(conf)![0];
    t.match(ws, /error_log \S+ emerg;/, '/ws (tickets in the query) writes no error lines');
    t.notMatch(ws, /limit_req/, 'and is never rate limited');
    t.match(conf, /location \/hls\/ \{[^]*?error_log \S+ emerg;\s+log_not_found off;/, 'viewer paths write no error lines');
    t.match(conf, /location ~ "\^\/hls\/\[\^\/\]\*\/v\/" \{ return 404; \}/, 'token paths the viewer location does not take are 404 at once');
    t.match(conf, /if \(\$args ~\* "\(\^\|&\)\(token\|ticket\|access_token\|key\|password\)="\) \{ return 400; \}/, 'secrets in an /api/ query are refused before proxying');
  }
  t.match(renderNginxConfig({ ...vars, playbackSecret: 'S'.repeat(40) }), /allow all;\s+log_not_found off;/, 'log_not_found off in the viewer location itself');
});

t.test('symbolic links are not followed and anything unknown is 404 without touching the disk', async (t) => {
  const conf = renderNginxConfig(vars);
  t.match(conf, /^\s+disable_symlinks on from=\/var\/lib\/onair\/media;$/m, 'links inside the media dir are refused (above it: the operator\'s)');
  t.match(conf, /location ~ \\\.\(ts\|mp4\)\$ \{[^}]*open_file_cache max=/, 'segments (immutable) keep their descriptors a second');
  t.match(conf, /location \/ \{\s+return 404;\s+\}/, 'a catch-all');
  t.match(conf, /location = \/ \{/, '/ itself still answers');
});

t.test('sign-in endpoints are limited per client IP, sized for a venue, with the house 429', async (t) => {
  const conf = renderNginxConfig(vars);
  t.match(conf, /limit_req_zone \$binary_remote_addr zone=onair_auth:10m rate=5r\/s;/);
  const auth = /location ~ \^\/api\/auth\/\(login\|register\|set-password\)\$ \{[^}]*\}[^}]*\}/.exec(conf)![0];
  t.match(auth, /limit_req zone=onair_auth burst=50 nodelay;/);
  t.match(auth, /limit_req_status 429;/);
  t.match(auth, /if \(\$args != ""\) \{ return 400; \}/, 'no query string (so no token) on a limited request line');
  t.match(auth, /proxy_pass http:\/\/onair_api;/);
  t.equal((conf.match(/limit_req /g) ?? []).length, 1, 'the only limited location');
  t.match(conf, /return 429 '\{"type":"about:blank","title":"rate_limited","status":429,"code":"rate_limited",[^']*"retryAfterSeconds":1\}';/);
  // 500 attendees × 3 requests at 5/s fit well inside 10 minutes
  t.ok((500 * 3) / 5 <= 600 / 2);
});

t.test('low-latency mode: what is not on disk goes to the playlist origin, after the token and the gate', async (t) => {
  const secret = 'S'.repeat(40);
  const conf = renderNginxConfig({ ...vars, playbackSecret: secret, originUpstreams: ['127.0.0.1:3002', 'origin2:3002'] });
  t.match(conf, /upstream onair_origin \{\s+server 127\.0\.0\.1:3002 max_fails=0;\s+server origin2:3002 max_fails=0;\s+keepalive 64;\s+keepalive_timeout 60s;/, 'ORIGIN_UPSTREAMS, with idle connections kept (below the origin\'s 75 s)');
  t.match(renderNginxConfig(vars), /upstream onair_origin \{\s+server 127\.0\.0\.1:9 down;/, 'no origin: LL requests fall to the 404 below');
  t.match(conf, /location @onair_no_origin \{\s+return 404;/);
  const hls = /location \/hls\/ \{[^]*?\n    \}/.exec(conf)![0];
  for (const d of ['proxy_http_version 1.1;', 'proxy_set_header Connection "";', 'proxy_set_header X-Onair-Uri $uri;', 'proxy_buffering off;', 'proxy_read_timeout 100s;', 'proxy_hide_header Cache-Control;']) t.ok(hls.includes(d), d);
  const viewer = (ext: string) => new RegExp(`location ~ "[^"]*\\\\.\\(\\?<onair_vext>${ext}\\)\\)\\$" \\{[^]*?\\n      \\}`).exec(conf)?.[0] ?? '';
  for (const ext of ['m3u8', 'm4s']) {
    const loc = viewer(ext);
    t.ok(loc, `a viewer location for ${ext}`);
    t.ok(loc.indexOf('if ($onair_gate) { return 403; }') < loc.indexOf('if (!-f $request_filename)'), `${ext}: the gate first, then the origin`);
    t.match(loc, /if \(!-f \$request_filename\) \{\s+proxy_pass http:\/\/onair_origin\/hls\/\$onair_pid\/\$onair_vpath\$is_args\$args;\s+error_page 502 504 = @onair_no_origin;/, `${ext}: to the origin on the plain path, directives kept`);
    t.match(loc, /access_log \S+viewer-lines\.log onair_viewer buffer=32k flush=1s if=\$onair_viewer_ok;/, `${ext}: a proxied 200 is a viewer line too`);
  }
  t.match(viewer('m4s'), /open_file_cache_errors off;/, 'a part not there yet is never cached as missing');
  t.match(viewer('m4s'), /proxy_pass[^}]*add_header Cache-Control "no-cache" always;/, "the origin's 404/503 for a part is not cached as immutable");
  t.match(viewer('ts\\|mp4'), /open_file_cache_errors on;/, 'segments (standard mode) as before');
  t.notMatch(viewer('ts\\|mp4'), /onair_origin/, 'and never to the origin');
  t.match(conf, /location ~ \\\.m3u8\$ \{[^]*?if \(!-f \$request_filename\) \{\s+proxy_pass http:\/\/onair_origin;/, 'the plain path: a missing playlist to the origin as is');
  t.match(conf, /location ~ \\\.m4s\$ \{[^]*?open_file_cache_errors off;[^]*?if \(!-f \$request_filename\) \{\s+proxy_pass http:\/\/onair_origin;/, 'a missing part likewise');
});

t.test('uploads: only content-addressed names under /uploads/, from UPLOADS_DIR, cached for good, typed by extension, inert', async (t) => {
  const conf = renderNginxConfig(vars);
  const block = conf.slice(conf.indexOf('location /uploads/ {'), conf.indexOf('location /api/ {'));
  t.match(block, /disable_symlinks on from=\/var\/lib\/onair\/uploads;/);
  t.match(block, /location ~ "\^\/uploads\/\(\?<onair_upload>\[0-9a-f\]\{64\}\\\.\(\?:png\|jpg\|webp\|gif\)\)\$" \{/, 'only <sha256>.<ext> names');
  t.match(block, /alias \/var\/lib\/onair\/uploads\/\$onair_upload;/);
  t.match(block, /types \{ image\/png png; image\/jpeg jpg; image\/webp webp; image\/gif gif; \}/);
  t.match(block, /Cache-Control "public, max-age=31536000, immutable" always;/);
  t.match(block, /X-Content-Type-Options nosniff always;/);
  t.match(block, /Content-Security-Policy "default-src 'none'; sandbox" always;/);
  t.match(block, /\}\s+return 404;\s+\}/, 'anything else under /uploads/ (the directory, temp files) is 404');
  t.throws(() => renderNginxConfig({ ...vars, uploadsDir: '/srv/my uploads' }), /uploadsDir/);
});
