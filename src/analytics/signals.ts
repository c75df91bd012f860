// Raw viewer signals in Redis: what players did in the last minutes, before the roll-up
// (rollup.ts) writes them to Postgres. One "line" is one thing a viewer's player did at a time:
// an HLS request nginx logged (collector.ts) or a heartbeat from our player (routes.ts).
//
// Per session s (and, for the peak only, per event e), under <prefix>:an:
//   s:<id>:seen      zset user → time of their latest line (ms)
//   s:<id>:w:<min>   hash user → ms watched in that minute (a field = seen that minute)
//   s:<id>:r:<min>   hash "<rendition>:n" → media segments, "<rendition>:b" → bytes (playlists too)
//   s:<id>:p         hash minute → "<most at once>:<when, ms>"
//   s:<id>:q:<min>   set of the minute's nginx request ids (a line two nodes fold counts once)
//   s:<id>:lm        hash "<user>|<rendition>" → "<tag>:<msn>": the low-latency segment last
//                    counted for that viewer and rendition (parts of one segment count it once)
//   s:<id>:mins      zset of minutes that hold data the roll-up has not finished with
//   s:<id>:final     the newest minute the roll-up froze: lines for it or older are refused
//   s:<id>:event     the session's event id
//   e:<id>:seen, e:<id>:p, e:<id>:final   the same across all of an event's sessions
//   sessions, events zsets of ids → last line time, for the roll-up to find
// Watch time: a line adds the gap since the viewer's previous line when it is at most
// VIEWER_WINDOW_MS (one sitting); a longer gap starts a new sitting and adds nothing. Lost or
// repeated lines change little: a lost line makes the next gap longer (still counted while
// under the window), a repeated or late line adds nothing. Everything expires after KEEP_SECONDS.
import type { Redis } from '../redis/connection.js';

/** A viewer counts as watching for this long after their player's latest request or heartbeat. */
export const VIEWER_WINDOW_MS = 20_000;
/** Raw signals outlive a stopped roll-up by this much before Redis drops them. */
export const KEEP_SECONDS = 6 * 3600;
export const MINUTE_MS = 60_000;

export interface ViewerLine {
  sessionId: string;
  eventId: string;
  userId: string;
  at: number; // ms since the epoch
  rendition: string; // '' for a heartbeat; 'master' for the master playlist; else the rendition dir
  bytes: number;
  segment: boolean; // a media segment (not a playlist)
  requestId: string; // nginx's $request_id ('' for a heartbeat): a line seen twice counts once
  /** A low-latency part or segment file (src/llhls/names.ts): which segment it is, or where its part's MSN is recorded. */
  ll?: LlSegmentRef;
}

/**
 * A low-latency media line counts one segment per (viewer, rendition, segment): a whole segment
 * names its MSN; a part's MSN is looked up where the worker recorded it (ll-parts.ts). `tag` is
 * the publish's file name prefix (a new publish starts its MSNs again).
 */
export type LlSegmentRef = { tag: string; msn: number } | { tag: string; partKey: string; seq: number };

// KEYS[1]: key prefix. ARGV: window ms, keep seconds, then 11 values per line: the 8 of ViewerLine,
// then for a low-latency media line its tag ('' otherwise), the part's MSN hash ('' for a whole
// segment) and the seq (a part) or the MSN (a segment).
// Returns the number of lines refused as too late (their minute was already frozen).
const FOLD = `
local P, W, KEEP = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local late = 0
local newest, enewest = {}, {}
local function final(k) return tonumber(redis.call('GET', k .. ':final') or '-1') end
-- a low-latency part or segment: 1 when its segment was not yet counted for this viewer and
-- rendition (parts come in order per viewer; a later MSN or a new publish's tag counts), else 0;
-- a part whose MSN is unknown (not recorded, or expired) counts none
local function llSegment(sk, uid, rend, tag, mkey, num)
  local msn = num
  if mkey ~= '' then msn = redis.call('HGET', mkey, num) end
  if not msn then return 0 end
  msn = tonumber(msn)
  local lk, f = sk .. ':lm', uid .. '|' .. rend
  local was = redis.call('HGET', lk, f)
  if was then
    local wtag, wmsn = string.match(was, '^(.*):(%d+)$')
    if wtag == tag and tonumber(wmsn) >= msn then return 0 end
  end
  redis.call('HSET', lk, f, tag .. ':' .. msn)
  redis.call('EXPIRE', lk, KEEP)
  return 1
end
for i = 3, #ARGV, 11 do
  local sid, eid, uid, t, rend, bytes, seg, rid = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), ARGV[i + 4], tonumber(ARGV[i + 5]), ARGV[i + 6], ARGV[i + 7]
  local lltag, llkey, llnum = ARGV[i + 8], ARGV[i + 9], ARGV[i + 10]
  local sk, ek = P .. ':s:' .. sid, P .. ':e:' .. eid
  local m = math.floor(t / 60000)
  local frozen = final(sk)
  if m <= frozen then
    late = late + 1
  else
    local last = tonumber(redis.call('ZSCORE', sk .. ':seen', uid) or '-1')
    local wk = sk .. ':w:' .. m
    local gain = 0
    if last >= 0 and t > last and t - last <= W then
      local lm = math.floor(last / 60000)
      if lm < m then
        -- the sitting crossed into this minute: the earlier part belongs to the earlier minute
        if lm > frozen then
          local lk = sk .. ':w:' .. lm
          redis.call('HINCRBY', lk, uid, m * 60000 - last)
          redis.call('EXPIRE', lk, KEEP)
          redis.call('ZADD', sk .. ':mins', lm, lm)
        end
        gain = t - m * 60000
      else
        gain = t - last
      end
    end
    redis.call('HINCRBY', wk, uid, gain)
    redis.call('EXPIRE', wk, KEEP)
    redis.call('ZADD', sk .. ':mins', m, m)
    if t > last then redis.call('ZADD', sk .. ':seen', t, uid) end
    -- served renditions: each request once (every API node gets every line); the request ids
    -- are kept per minute, only while the minute is open (the roll-up drops them when it freezes it)
    local qk = sk .. ':q:' .. m
    if rend ~= '' and rid ~= '' and redis.call('SADD', qk, rid) == 1 then
      redis.call('EXPIRE', qk, KEEP)
      local rk = sk .. ':r:' .. m
      local n = seg == '1' and 1 or 0
      if lltag ~= '' then n = llSegment(sk, uid, rend, lltag, llkey, llnum) end
      redis.call('HINCRBY', rk, rend .. ':n', n)
      redis.call('HINCRBY', rk, rend .. ':b', bytes)
      redis.call('EXPIRE', rk, KEEP)
    end
    redis.call('SET', sk .. ':event', eid, 'EX', KEEP)
    local elast = tonumber(redis.call('ZSCORE', ek .. ':seen', uid) or '-1')
    if t > elast then redis.call('ZADD', ek .. ':seen', t, uid) end
    -- the newest line per scope and minute: where the peak of that minute is sampled
    local sm, em = sid .. '|' .. m, eid .. '|' .. m
    if not newest[sm] or t > newest[sm] then newest[sm] = t end
    if not enewest[em] or t > enewest[em] then enewest[em] = t end
  end
end
-- how many watch at the newest line of each minute: that minute's peak if more than before
local function peak(k, t, kind, id)
  redis.call('ZREMRANGEBYSCORE', k .. ':seen', '-inf', t - 3 * W)
  redis.call('EXPIRE', k .. ':seen', KEEP)
  local n = redis.call('ZCOUNT', k .. ':seen', t - W, '+inf')
  local m = math.floor(t / 60000)
  -- sampled from current lines only: a late or replayed batch says nothing about "at once"
  if m > final(k) and t > now - 60000 then
    local was = redis.call('HGET', k .. ':p', m)
    if not was or tonumber(string.match(was, '^(%d+)')) < n then redis.call('HSET', k .. ':p', m, n .. ':' .. t) end
    redis.call('EXPIRE', k .. ':p', KEEP)
  end
  local known = tonumber(redis.call('ZSCORE', P .. ':' .. kind, id) or '-1')
  if t > known then redis.call('ZADD', P .. ':' .. kind, t, id) end
end
for k, t in pairs(newest) do local id = string.match(k, '^([^|]+)'); peak(P .. ':s:' .. id, t, 'sessions', id) end
for k, t in pairs(enewest) do local id = string.match(k, '^([^|]+)'); peak(P .. ':e:' .. id, t, 'events', id) end
return late
`;

const FOLD_CHUNK = 1_000;

/** Where viewer analytics keep their keys in Redis. */
export const analyticsPrefix = (redisPrefix: string) => `${redisPrefix}:an`;

export interface Signals {
  readonly prefix: string;
  /** Folds lines into the counters; resolves with how many were refused as too late. */
  fold(lines: ViewerLine[]): Promise<number>;
  /** Viewers watching now (a line within the window) for each id. */
  watchingNow(scope: 's' | 'e', ids: string[], nowMs?: number): Promise<Map<string, number>>;
}

export function createSignals(o: { redis: Redis; redisPrefix: string }): Signals {
  const prefix = analyticsPrefix(o.redisPrefix);
  return {
    prefix,
    async fold(lines) {
      let late = 0;
      for (let i = 0; i < lines.length; i += FOLD_CHUNK) {
        const args: (string | number)[] = [VIEWER_WINDOW_MS, KEEP_SECONDS];
        for (const l of lines.slice(i, i + FOLD_CHUNK)) {
          const ll = l.ll ? ('partKey' in l.ll ? [l.ll.tag, l.ll.partKey, String(l.ll.seq)] : [l.ll.tag, '', String(l.ll.msn)]) : ['', '', ''];
          args.push(l.sessionId, l.eventId, l.userId, Math.round(l.at), l.rendition, Math.max(0, Math.round(l.bytes)), l.segment ? '1' : '0', l.requestId, ...ll);
        }
        late += (await o.redis.eval(FOLD, 1, prefix, ...args)) as number;
      }
      return late;
    },
    async watchingNow(scope, ids, nowMs = Date.now()) {
      const pipeline = o.redis.pipeline();
      for (const id of ids) pipeline.zcount(`${prefix}:${scope}:${id}:seen`, nowMs - VIEWER_WINDOW_MS, '+inf');
      const results = ids.length ? ((await pipeline.exec()) ?? []) : [];
      return new Map(ids.map((id, i) => {
        const [err, n] = results[i] ?? [null, 0];
        if (err) throw err;
        return [id, Number(n)];
      }));
    },
  };
}
