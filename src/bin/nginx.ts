// nginx role (docker-compose): renders nginx/onair.conf.template and runs nginx in the foreground.
// The bare-metal start (`all`) runs the same rendering and the same nginx command.
import path from 'node:path';
import { startViewerLineForwarder } from '../analytics/forwarder.js';
import { viewerDatagramKey } from '../analytics/viewer-datagram.js';
import { createPrivateFile, rotateNginxLogs } from '../local/log-files.js';
import { prepareNginx } from '../local/nginx-config.js';
import { isRoot, startChild } from '../local/processes.js';
import { runRole } from './role.js';

await runRole('nginx', async ({ config, log, onShutdown }) => {
  const nginx = prepareNginx({ dataDir: config.dataDir, logDir: config.logDir, httpPort: config.httpPort, mediaDir: config.mediaDir, recordingsDir: config.recordings.dir, uploadsDir: config.uploadsDir, apiUpstreams: config.apiUpstreams, originUpstreams: config.origin.upstreams, runAsRoot: isRoot(), playbackSecret: config.playbackTokens ? config.playbackSecret : null });
  if (nginx.viewerLines) {
    // viewer analytics: nginx's viewer lines to every API node (stopped after nginx, so its last flush goes too)
    const forwarder = startViewerLineForwarder({ file: nginx.viewerLines, pidFile: nginx.pidFile, upstreams: config.apiUpstreams, key: viewerDatagramKey(config.playbackSecret), log });
    onShutdown(() => forwarder.stop());
  }
  // nginx writes its access and error logs as files (the token-free formats of the template): keep
  // them private and rotate them by size, as the one-box start does (LOG_MAX_BYTES, LOG_FILES)
  const nginxLogs = ['nginx-access.log', 'nginx-error.log'].map((f) => path.join(config.logDir, f));
  for (const f of nginxLogs) createPrivateFile(f);
  const proc = startChild(
    { name: 'nginx', command: nginx.command, args: nginx.args, stopSignal: 'SIGQUIT', restart: true },
    { logDir: config.logDir, onConsole: (t) => process.stdout.write(t + '\n') },
  );
  const rotation = rotateNginxLogs({ files: nginxLogs, pidFile: nginx.pidFile, rotation: config.logRotation });
  onShutdown(() => rotation.stop());
  onShutdown(() => proc.stop());
  log.info({ port: config.httpPort, conf: nginx.conf }, `nginx serving HLS, /api and /ws on port ${config.httpPort}.`);
});
