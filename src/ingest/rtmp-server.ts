// The only file that imports node-media-server. It speaks RTMP and calls the streams core
// through IngestCore; it knows nothing else. It also fences node-media-server's known gaps:
//  - its parser throws on malformed input (e.g. `connect` without tcUrl) inside a socket
//    handler, which would kill the process: every parse is guarded and ends that socket only
//    (session-guard.ts, with the next two);
//  - no limits on message size, chunk streams or chunk size: added;
//  - no idle timeout: a watchdog drops silent publishers and connections that never publish;
//  - `session.close()` is a half-close: refusals destroy the socket;
//  - media reaches subscribers before an async key check: only internal, signed pulls may play,
//    and they can only attach after the key check passed (through an alias path);
//  - its logger prints stream paths (which hold the key): routed to ours, redacted;
//  - it keeps a stream-path entry per publish/play command but releases one per connection: one
//    command per connection (session-guard.ts);
//  - no cap on connections: capped at accept, in all and per address, and the same for
//    connections that have not published yet;
//  - it writes to players without back-pressure (socket.write's result is ignored): what is
//    queued for each internal puller is bounded, and a puller that stops reading is dropped
//    (puller-queue.ts).
import type { Socket } from 'node:net';
import NodeMediaServer from 'node-media-server';
import Context from 'node-media-server/src/core/context.js';
import nmsLogger from 'node-media-server/src/core/logger.js';
import { parseH264Sps } from 'node-media-server/src/protocol/sps_info.js';
import { rateSampler } from 'node-media-server/src/core/rate_sampler.js';
import { PublishRefused } from '../errors.js';
import type { Log } from '../log.js';
import type { IngestMetrics } from '../metrics.js';
import { verifyPullSignature } from '../streams/keys.js';
import type { IngestCore } from '../streams/service.js';
import type { PublishGrant, SourceInfo } from '../streams/types.js';
import { LL_COPY_MAX_GOP_SECONDS } from '../transcode/ladder.js';
import { toSourceInfo } from './flv-headers.js';
import { GopMeter, type GopMeasure } from './gop-meter.js';
import { takeOverAccept } from './accept.js';
import { CAP_SETTINGS, createConnectionGate, type CapName, type ConnectionCaps, type Ticket } from './connection-gate.js';
import { createLogThrottle } from './log-throttle.js';
import { boundPullerQueue, MAX_PULLER_QUEUE_BYTES } from './puller-queue.js';
import { redactNmsMessage } from './nms-redact.js';
import { guardSession } from './session-guard.js';

export const IDLE_LIMIT_MS = 10_000; // a publisher silent this long is dropped
/**
 * A new publisher with the key takes over a connection of the same stream silent this long (a
 * network drop leaves the old socket open until the idle limit): the encoder's reconnect is let
 * in at once. Two encoders both sending on one key are never silent, so they cannot take the
 * stream from each other in turns.
 */
export const TAKEOVER_SILENT_MS = 3_000;
const PUBLISH_DEADLINE_MS = 10_000; // a connection must publish or play within this
const SOURCE_WAIT_MS = 5_000; // codec information must arrive within this after publish
// low latency: the second keyframe must come within this of the first for the top rung to be passed through
const GOP_GIVE_UP_SECONDS = LL_COPY_MAX_GOP_SECONDS + 0.5;
const GOP_WAIT_MS = 6_000; // whatever the timestamps say, the transcode is queued by then
const TOUCH_EVERY_MS = 5_000;

export interface IngestServer {
  start(): void;
  stop(): Promise<void>;
  /** Drops the publisher of a stream (key regenerated). Returns how many were dropped. */
  disconnectStream(streamId: string, reason: string): number;
  /** Drops this connection of a publish if it has been silent for TAKEOVER_SILENT_MS (a publisher with the key waits at another ingest). */
  dropIfSilent(publishSessionId: string, connection: number): boolean;
  publisherCount(): number;
  /** Stream paths node-media-server holds an entry for: two per live publish (key path, alias). */
  pathCount(): number;
}

interface Publisher {
  session: any; // node-media-server's RtmpSession
  grant: PublishGrant | null;
  closed: boolean;
  endReason: string | null;
  keyframes?: number[]; // dts of the first keyframes after the key check; undefined once measured
  /** Low-latency publishes: the publisher's GOP and B-frames, measured before the transcode is queued. */
  gop?: GopMeter;
  /** The silent connection of the same stream this publisher takes over (told to the core). */
  takesOver?: { publishSessionId: string; connection: number };
}

interface Tracked {
  socket: Socket;
  session: any;
  connectedAt: number;
  lastBytes: number;
  lastActivityAt: number;
  countedBytes: number; // bytes already added to the received-bytes counter
}

export function createRtmpIngest(deps: {
  core: IngestCore;
  log: Log;
  port: number;
  rtmps: { port: number; cert: string; key: string } | null;
  internalApiKey: string;
  caps: ConnectionCaps;
  metrics?: IngestMetrics;
}): IngestServer {
  const { core, metrics } = deps;
  const log = deps.log.child({ component: 'rtmp' });
  const publishers = new Map<string, Publisher>(); // by node-media-server session id
  const unrecorded: { grant: PublishGrant; reason: string }[] = []; // ends the database did not take yet
  const tracked = new Set<Tracked>();
  const aliasOwners = new Map<string, Publisher>(); // internal pull path → the publisher whose media it carries
  const gate = createConnectionGate(deps.caps);
  // lines a stranger can cause: a few at once, then one per 10 s per kind, with a count of the rest
  const throttle = createLogThrottle({ burst: 5, everyMs: 10_000 });

  const routeNmsLog = (message: string, level = 'info') => {
    if (level !== 'error' && level !== 'warn' && !log.isLevelEnabled('debug')) return; // no redaction for nothing
    // its errors (a port already in use, just before it exits) must reach the operator; most
    // are about a client's bad input, though, so a flood of them is thinned out
    const dropped = level === 'error' || level === 'warn' ? throttle.take('nms') : 0;
    if (dropped === null) return;
    const text = redactNmsMessage(String(message));
    if (level === 'error') log.error({ nmsLevel: level, dropped }, text);
    else if (level === 'warn') log.warn({ nmsLevel: level, dropped }, text);
    else log.debug({ nmsLevel: level }, text);
  };
  nmsLogger.log = routeNmsLog;
  const nms = new NodeMediaServer({
    bind: '0.0.0.0',
    rtmp: { port: deps.port },
    ...(deps.rtmps ? { rtmps: deps.rtmps } : {}),
    // no http/https (its HTTP-FLV accepts POST as a publish), no webadmin, no record
  });
  nmsLogger.log = routeNmsLog; // its constructor resets the logger
  rateSampler.stop(); // per-path byte rates for its HTTP API (not served here), sampled every second
  metrics?.readConnections(() => ({ ...gate.counts(), paths: Context.broadcasts.size }));

  const destroy = (socket: Socket | undefined) => socket?.destroy();

  // ---- per-connection guards -------------------------------------------------------------
  function refuseConnection(ip: string, cap: CapName) {
    metrics?.connectionsRefused.inc({ cap });
    const dropped = throttle.take(`cap:${cap}`); // per cap: a flood on one address cannot hide the global cap biting
    if (dropped === null) return;
    const limit = `${CAP_SETTINGS[cap].name}=${deps.caps[CAP_SETTINGS[cap].key]}`;
    const more = dropped > 0 ? ` ${dropped} more connections were refused since the last such line.` : '';
    log.warn({ remote: ip, cap, dropped }, `Refused an RTMP connection from ${ip}: ${CAP_SETTINGS[cap].what} (${limit}).${more}`);
  }

  function guard(socket: Socket, ticket: Ticket) {
    let session: any = null;
    for (const s of Context.sessions.values()) if (s.socket === socket) session = s;
    if (!session?.rtmp) return destroy(socket);
    session.onairTicket = ticket;
    guardSession({ socket, session, granted: () => !!publishers.get(session.id)?.grant, onKeyframe: (dts) => onKeyframe(session, dts), onVideo: (dts, data) => publishers.get(session.id)?.gop?.feed(dts, data), throttle, log });
    const t: Tracked = { socket, session, connectedAt: Date.now(), lastBytes: 0, lastActivityAt: Date.now(), countedBytes: 0 };
    tracked.add(t);
    socket.once('close', () => {
      countBytes(t);
      tracked.delete(t);
    });
    socket.setNoDelay(true);
  }

  /** Measures the publisher's keyframe interval once, from its second and third keyframes. */
  function onKeyframe(session: any, dts: number) {
    const p = publishers.get(session.id);
    if (!p?.grant || p.keyframes === undefined) return;
    p.keyframes.push(dts);
    if (p.keyframes.length < 3) return;
    const seconds = (p.keyframes[2]! - p.keyframes[1]!) / 1000;
    p.keyframes = undefined;
    if (seconds > 0) core.keyframeInterval(p.grant, seconds).catch((err) => log.warn({ err: err.message }, 'Could not check the keyframe interval.'));
  }

  function countBytes(t: Tracked) {
    const read = t.socket.bytesRead;
    if (read > t.countedBytes) metrics?.receivedBytes.inc(read - t.countedBytes);
    t.countedBytes = read;
  }

  function watchdog() {
    const now = Date.now();
    // belt and braces: a path whose broadcast has neither publisher nor subscriber serves nobody
    // (node-media-server drops such entries itself when it notices; this catches what it misses)
    for (const [path, b] of Context.broadcasts) if (b.publisher == null && b.subscribers.size === 0) Context.broadcasts.delete(path);
    for (const t of tracked) {
      countBytes(t);
      if (t.socket.bytesRead !== t.lastBytes) {
        t.lastBytes = t.socket.bytesRead;
        t.lastActivityAt = now;
      }
      const publisher = publishers.get(t.session.id);
      const isPlayer = !t.session.isPublisher && t.session.streamPath.startsWith('/internal/');
      if (publisher && now - t.lastActivityAt > IDLE_LIMIT_MS) {
        publisher.endReason = 'publisher_silent';
        log.warn({ remote: t.socket.remoteAddress }, `A publisher sent nothing for ${IDLE_LIMIT_MS / 1000} s; dropping it.`);
        destroy(t.socket);
      } else if (!publisher && !isPlayer && now - t.connectedAt > PUBLISH_DEADLINE_MS) {
        log.info({ remote: t.socket.remoteAddress }, 'A connection neither published nor played in time; closing it.');
        destroy(t.socket);
      }
    }
  }

  // ---- publish ---------------------------------------------------------------------------
  function refuse(p: Publisher, err: unknown) {
    if (err instanceof PublishRefused) {
      // anyone can make these by the thousand (a made-up key per connection): thinned out per reason
      const dropped = throttle.take(`refused:${err.reason}`);
      if (dropped !== null) log.warn({ reason: err.reason, remote: p.session.socket.remoteAddress, streamId: p.grant?.streamId, dropped }, `Refused a publisher: ${err.message}`);
    } else {
      log.error({ err, streamId: p.grant?.streamId }, 'Could not authorise a publisher; closing it.');
    }
    p.endReason = err instanceof PublishRefused ? err.reason : 'internal_error';
    metrics?.publishesRefused.inc({ reason: p.endReason });
    destroy(p.session.socket);
  }

  async function waitForSource(session: any): Promise<SourceInfo> {
    const deadline = Date.now() + SOURCE_WAIT_MS;
    const b = session.broadcast;
    // video sequence header first; then give audio a moment if the metadata announces it
    const isAvc = () => session.onairFirstVideo && (session.onairFirstVideo[0] & 0x8f) === 7;
    // H.264 is described by its sequence header; anything else by its first packet
    while (!b.flvVideoHeader && !(session.onairFirstVideo && !isAvc()) && Date.now() < deadline && !session.socket.destroyed) await sleep(20);
    const audioDeadline = Math.min(deadline, Date.now() + 1_000);
    while (!b.flvAudioHeader && !session.onairFirstAudio && session.audioCodec && Date.now() < audioDeadline && !session.socket.destroyed) await sleep(20);
    return toSourceInfo({
      videoTag: b.flvVideoHeader ?? asFlvTag(session.onairFirstVideo),
      audioTag: b.flvAudioHeader ?? asFlvTag(session.onairFirstAudio),
      metadata: { width: session.videoWidth, height: session.videoHeight, framerate: session.videoFramerate, videodatarate: session.videoDatarate, audiodatarate: session.audioDatarate },
      parseSps: parseH264Sps,
    });
  }

  /** Waits for a low-latency publisher's GOP measure (its timestamps decide; the wall clock only caps the wait). */
  async function waitForGop(p: Publisher): Promise<GopMeasure | null> {
    const deadline = Date.now() + GOP_WAIT_MS;
    while (!p.gop!.measured() && !p.closed && Date.now() < deadline) await sleep(20);
    return p.gop!.measured();
  }

  async function admit(p: Publisher) {
    const s = p.session;
    try {
      const grant = await core.authorizePublish({ streamKey: String(s.streamName), remoteAddress: s.socket.remoteAddress ?? null, ...(p.takesOver ? { silent: p.takesOver } : {}) });
      p.grant = grant;
      if (p.closed) return void (await core.publishEnded(grant, p.endReason ?? 'publisher_left'));
      s.onairTicket?.settle(); // published: no longer counts against the caps on pending connections
      log.info({ streamId: grant.streamId, publishSessionId: grant.publishSessionId, remote: s.socket.remoteAddress }, 'Publisher accepted.');
      metrics?.publishesAccepted.inc();
      metrics?.publishers.inc(); // onPublisherClosed takes it off (it sees the grant)
      if (grant.lowLatency) p.gop = new GopMeter(GOP_GIVE_UP_SECONDS);
      let source = await waitForSource(s);
      if (p.closed) return;
      if (p.gop) source = { ...source, ...describeGop(await waitForGop(p)) };
      if (p.closed) return;
      // internal pullers reach this broadcast only through its alias, never through the key; a
      // continued publish's alias moves to this connection, and pullers of the previous one go
      // (their worker starts again on this connection's media, from its own headers)
      const alias = internalPath(grant.publishSessionId);
      dropPullers(alias);
      aliasOwners.set(alias, p);
      Context.broadcasts.set(alias, s.broadcast);
      await core.sourceReady(grant, source);
    } catch (err) {
      refuse(p, err);
    }
  }

  async function onPublisherClosed(p: Publisher) {
    p.closed = true;
    publishers.delete(p.session.id);
    if (!p.grant) return;
    metrics?.publishers.dec();
    const path = internalPath(p.grant.publishSessionId);
    try {
      // record the end first: when the pullers then see end-of-stream, the worker finds the
      // publish ended (and finishes the playlists) instead of taking it for an ffmpeg crash
      await core.publishEnded(p.grant, p.endReason ?? 'publisher_left');
      log.info({ streamId: p.grant.streamId, publishSessionId: p.grant.publishSessionId, reason: p.endReason ?? 'publisher_left' }, 'Publisher left.');
    } catch (err) {
      // e.g. the database is unreachable: recorded after the next heartbeat that gets through,
      // so the stream goes offline (and its playlists end) as soon as the database is back
      unrecorded.push({ grant: p.grant, reason: p.endReason ?? 'publisher_left' });
      log.error({ err, streamId: p.grant.streamId }, 'Could not record the end of a publish; it is retried with the heartbeat.');
    }
    // a newer connection of the same publish may own the alias by now: leave its pullers alone
    if (aliasOwners.get(path) !== p) return;
    aliasOwners.delete(path);
    dropPullers(path);
    Context.broadcasts.delete(path);
  }

  function dropPullers(path: string) {
    const b = Context.broadcasts.get(path);
    if (b) for (const sub of b.subscribers.values()) if (sub.streamPath === path) destroy(sub.socket);
  }

  /**
   * The publisher of this path on this ingest has been silent for TAKEOVER_SILENT_MS: hand the
   * path to the new publisher. Its old connection is closed as silent (the core then waits for
   * the publisher, or finds this new connection already continuing the publish), and the path's
   * cached headers and GOP go, so the new connection is described by its own (a new resolution).
   */
  function takeOverSilent(p: Publisher, current: any): boolean {
    const held = publishers.get(current.id);
    const t = [...tracked].find((x) => x.session === current);
    if (!held?.grant || held.closed || !t || Date.now() - t.lastActivityAt < TAKEOVER_SILENT_MS) return false;
    p.takesOver = { publishSessionId: held.grant.publishSessionId, connection: held.grant.connection };
    held.endReason = 'publisher_silent';
    const b = p.session.broadcast;
    b.publisher = null; // node-media-server then lets the new session publish on the path
    b.flvMetaData = b.flvAudioHeader = b.flvVideoHeader = null;
    b.rtmpMetaData = b.rtmpAudioHeader = b.rtmpVideoHeader = null;
    b.flvGopCache?.clear();
    b.rtmpGopCache?.clear();
    b._lastDts = {};
    b._dtsOffset = {};
    log.warn({ streamId: held.grant.streamId, remote: p.session.socket.remoteAddress }, 'A new publisher takes over a silent connection of the same stream.');
    destroy(current.socket);
    return true;
  }

  nms.on('prePublish', (session: any) => {
    try {
      // publisher resume by IP (node-media-server's 30 s grace) is off: a reconnect is a new publish
      session.broadcast.publishGraceMs = 0;
      const p: Publisher = { session, grant: null, closed: false, endReason: null, keyframes: [] };
      session.socket.once('close', () => void onPublisherClosed(p));
      if (session.streamApp !== 'live') return refuse(p, new PublishRefused('bad_app', 'Publish to the "live" application: rtmp://host/live.'));
      const current = session.broadcast.publisher;
      if (current && current !== session && !takeOverSilent(p, current)) {
        return refuse(p, new PublishRefused('already_live', 'Another encoder is already publishing to this stream.'));
      }
      publishers.set(session.id, p);
      void admit(p);
    } catch (err) {
      log.error({ err }, 'prePublish failed; closing the connection.');
      destroy(session?.socket);
    }
  });

  nms.on('prePlay', (session: any) => {
    const [, app, name] = String(session.streamPath).split('/');
    const ok =
      app === 'internal' &&
      typeof name === 'string' &&
      verifyPullSignature(deps.internalApiKey, name, session.streamQuery?.sig) &&
      Context.broadcasts.get(session.streamPath)?.publisher != null;
    if (!ok) {
      const dropped = throttle.take('player');
      if (dropped !== null) log.warn({ remote: session.socket?.remoteAddress, dropped }, 'Refused an RTMP player: only signed internal pulls may play.');
      destroy(session.socket);
    } else {
      session.onairTicket?.settle();
      // wrapped before node-media-server replays the cached GOP to it (right after this event)
      boundPullerQueue({ session, limitBytes: MAX_PULLER_QUEUE_BYTES, onStalled: (queued) => onPullerStalled(name, queued) });
    }
  });

  function onPullerStalled(publishSessionId: string, queuedBytes: number) {
    metrics?.pullersDropped.inc();
    const dropped = throttle.take('puller-stalled');
    if (dropped === null) return;
    const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
    log.warn(
      { publishSessionId, queuedBytes, dropped },
      `Dropped an internal puller that stopped reading: ${mib(queuedBytes)} MiB were queued for it (limit ${mib(MAX_PULLER_QUEUE_BYTES)} MiB). Its worker restarts it; the publisher is not affected.`,
    );
  }

  async function retryUnrecordedEnds() {
    for (const u of unrecorded.splice(0)) {
      try {
        await core.publishEnded(u.grant, u.reason);
        log.info({ streamId: u.grant.streamId, publishSessionId: u.grant.publishSessionId, reason: u.reason }, 'Recorded the end of a publish the database had missed.');
      } catch {
        unrecorded.push(u);
      }
    }
  }

  let watchdogTimer: NodeJS.Timeout | null = null;
  let touchTimer: NodeJS.Timeout | null = null;

  return {
    start() {
      // caps are checked before node-media-server sees a connection: its accept handlers are taken over
      takeOverAccept({
        server: nms.rtmpServer,
        gate,
        onAdmitted: (socket, ticket) => {
          nms.rtmpServer.handleRequest(socket);
          guard(socket, ticket);
        },
        onRefused: refuseConnection,
        handshakeDeadlineMs: PUBLISH_DEADLINE_MS,
      });
      nms.rtmpServer.run();
      watchdogTimer = setInterval(watchdog, 1_000);
      let touching = false;
      touchTimer = setInterval(() => {
        // one touch at a time: against a database that does not answer, touches would pile up
        if (touching) return;
        touching = true;
        const live = [...publishers.values()].filter((p) => p.grant && !p.closed);
        core
          .touch(live.map((p) => ({ publishSessionId: p.grant!.publishSessionId, connection: p.grant!.connection, streamKey: String(p.session.streamName) })))
          .then((drop) => {
            for (const { publishSessionId, reason } of drop) {
              const p = live.find((x) => x.grant!.publishSessionId === publishSessionId);
              if (!p || p.closed) continue;
              p.endReason = reason;
              if (reason === 'stopped') log.info({ streamId: p.grant!.streamId }, 'Dropped the publisher of a stream an operator stopped.');
              else if (reason === 'key_revoked') log.info({ streamId: p.grant!.streamId }, 'Dropped a publisher whose stream key is no longer valid (regenerated, or the stream disabled).');
              else log.warn({ streamId: p.grant!.streamId, publishSessionId }, 'Dropped a publisher whose publish session was ended elsewhere; its encoder can reconnect.');
              destroy(p.session.socket);
            }
          })
          .then(retryUnrecordedEnds) // the database answers again: what it missed
          .catch((err) => log.warn({ err: err.message }, 'Could not refresh the publishers’ heartbeat.'))
          .finally(() => (touching = false));
      }, TOUCH_EVERY_MS);
      log.info({ port: deps.port, rtmpsPort: deps.rtmps?.port ?? null }, 'RTMP ingest listening.');
    },
    async stop() {
      if (watchdogTimer) clearInterval(watchdogTimer);
      if (touchTimer) clearInterval(touchTimer);
      for (const p of publishers.values()) p.endReason = 'ingest_shutdown';
      const closing = [...publishers.values()].map((p) => new Promise((r) => p.session.socket.once('close', r)));
      await nms.stop();
      await Promise.race([Promise.all(closing), sleep(3_000)]);
      await sleep(200); // let the publishEnded calls started by the closes reach the database
    },
    disconnectStream(streamId, reason) {
      let n = 0;
      for (const p of publishers.values()) {
        if (p.grant?.streamId !== streamId) continue;
        p.endReason = reason;
        destroy(p.session.socket);
        n += 1;
      }
      return n;
    },
    dropIfSilent(publishSessionId, connection) {
      for (const p of publishers.values()) {
        if (p.grant?.publishSessionId !== publishSessionId || p.grant.connection !== connection || p.closed) continue;
        const t = [...tracked].find((x) => x.session === p.session);
        if (!t || Date.now() - t.lastActivityAt < TAKEOVER_SILENT_MS) return false;
        p.endReason = 'publisher_silent';
        log.warn({ streamId: p.grant.streamId, publishSessionId }, 'A publisher with the key waits at another ingest; dropping this silent connection for it.');
        destroy(p.session.socket);
        return true;
      }
      return false;
    },
    publisherCount: () => publishers.size,
    pathCount: () => Context.broadcasts.size,
  };
}

/** The header parsers read whole FLV tags: give raw packet data an (unused) 11-byte tag header. */
function asFlvTag(data: Buffer | undefined): Buffer | null {
  return data ? Buffer.concat([Buffer.alloc(11), data]) : null;
}

function internalPath(publishSessionId: string): string {
  return `/internal/${publishSessionId}`;
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

/** The GOP measure as the source describes it (the ladder plans with it, the core tells the broadcaster). */
function describeGop(m: GopMeasure | null): Pick<SourceInfo, 'keyframeIntervalSeconds' | 'bFrames' | 'keyframeIntervalAtLeastSeconds'> {
  if (!m) return { keyframeIntervalSeconds: null, bFrames: null, keyframeIntervalAtLeastSeconds: null };
  return { keyframeIntervalSeconds: m.keyframeIntervalSeconds, bFrames: m.bFrames, keyframeIntervalAtLeastSeconds: m.atLeastSeconds };
}
