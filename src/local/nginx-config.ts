// Renders nginx/onair.conf.template. Pure apart from reading the template.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NGINX_DIR } from '../paths.js';

export interface NginxVars {
  httpPort: number;
  mediaDir: string;
  runDir: string; // pid file and *_temp_path dirs
  logDir: string;
  apiUpstreams: string[];
  workerProcesses?: number | 'auto';
  user?: string | null; // only meaningful when nginx starts as root
}

export function renderNginxConfig(vars: NginxVars, template = readFileSync(path.join(NGINX_DIR, 'onair.conf.template'), 'utf8')): string {
  for (const [name, dir] of [['mediaDir', vars.mediaDir], ['runDir', vars.runDir], ['logDir', vars.logDir]] as const) {
    // these land unquoted in the config: refuse what would change its meaning
    if (!/^\/[A-Za-z0-9_./@+-]*$/.test(dir)) throw new Error(`${name} "${dir}" must be an absolute path without spaces or special characters for nginx.`);
  }
  const values: Record<string, string> = {
    httpPort: String(vars.httpPort),
    mediaDir: vars.mediaDir,
    runDir: vars.runDir,
    logDir: vars.logDir,
    apiUpstreams: vars.apiUpstreams.map((u) => `    server ${u} max_fails=0;`).join('\n'),
    workerProcesses: String(vars.workerProcesses ?? 'auto'),
    userDirective: vars.user ? `user ${vars.user};` : '',
  };
  return template.replace(/\{\{(\w+)\}\}/g, (m, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`The nginx template uses an unknown placeholder ${m}.`);
    return v;
  });
}

/** Writes the rendered config under <dataDir>/nginx and returns how to run nginx in the foreground. */
export function prepareNginx(o: { dataDir: string; logDir: string; httpPort: number; mediaDir: string; apiUpstreams: string[]; runAsRoot: boolean }) {
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
  const conf = path.join(runDir, 'nginx.conf');
  writeFileSync(
    conf,
    renderNginxConfig({
      httpPort: o.httpPort,
      mediaDir: o.mediaDir,
      runDir,
      logDir: o.logDir,
      apiUpstreams: o.apiUpstreams,
      // as root the workers drop to www-data (Debian's nginx user); otherwise they keep our uid
      user: o.runAsRoot ? 'www-data' : null,
    }),
  );
  return { command: 'nginx', args: ['-p', runDir, '-c', conf, '-e', path.join(o.logDir, 'nginx-error.log')], conf };
}
