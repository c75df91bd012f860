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
