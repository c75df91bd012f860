// The nginx side of low-latency mode (src/llhls/): the viewer locations' hand-off to the playlist
// origin. The plain locations' counterparts are in nginx/onair.conf.template.

/**
 * Low-latency mode (src/llhls/): a media playlist that is not on disk, or a part not written yet,
 * is asked of the playlist origin on the plain path, after the token and the gate checked; a 200
 * from it writes the viewer line as a file served from disk does (same location, same log). The
 * origin hands a held part back with X-Accel-Redirect to this very URI (X-Onair-Uri), which then
 * finds the file. Standard mode never gets here for a file that exists.
 */
export function toOrigin(kind: 'playlist' | 'part'): string[] {
  return [
    `        if (!-f $request_filename) {`,
    `          proxy_pass http://onair_origin/hls/$onair_pid/$onair_vpath$is_args$args;`,
    `          error_page 502 504 = @onair_no_origin;`,
    ...(kind === 'part' ? [`          add_header Cache-Control "no-cache" always;`, `          add_header Access-Control-Allow-Origin "*" always;`] : []),
    `        }`,
  ];
}

/** LL parts: immutable once written, but a miss is never cached (the hinted part is asked for before it exists). */
export const PART_FILE_CACHE = `        open_file_cache max=20000 inactive=20s; open_file_cache_valid 1s; open_file_cache_errors off;`;
