import t from 'tap';
import { renderNginxConfig } from './nginx-config.js';

const vars = { httpPort: 8080, mediaDir: '/var/lib/onair/media', runDir: '/var/lib/onair/nginx', logDir: '/var/lib/onair/logs', apiUpstreams: ['127.0.0.1:3000', 'api2:3000'] };

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
  const off = renderNginxConfig(vars);
  t.notMatch(off, /secure_link|viewer-lines|deny all/, 'tokens off: none of it');
  t.throws(() => renderNginxConfig({ ...vars, playbackSecret: 'short; include /etc/passwd' }), /playback secret/);
});
