// Debian's nginx with libnginx-mod-rtmp, as tests and benchmarks run it (a relay destination, the
// latency peer): where the module is, and the part of nginx.conf every such instance starts with.

export const RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';

/** The head of an nginx-rtmp nginx.conf: the module, foreground, one worker (nginx-rtmp's live applications are per worker), its pid and error log in `dir`. Paths land unquoted: callers check them. */
export function nginxRtmpPreamble(o: { dir: string; user: string | null; logLevel?: 'warn' | 'info'; connections?: number }): string {
  return `load_module ${RTMP_MODULE};
daemon off;
worker_processes 1;
pid ${o.dir}/nginx.pid;
error_log ${o.dir}/error.log ${o.logLevel ?? 'warn'};
${o.user ? `user ${o.user};` : ''}
events { worker_connections ${o.connections ?? 256}; }
`;
}
