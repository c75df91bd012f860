// The streams core: stream records, keys, and the publish-session state machine
//   offline → starting (publisher accepted, job enqueued) → live (every rendition has a segment)
//   → reconnecting (the publisher's connection broke; within RECONNECT_GRACE_SECONDS a publisher
//     with the key continues the same publish as its next connection) → live | offline | failed
//   → offline (publisher left for good, or an operator ended it) | failed (transcoder gave up)
// A reconnect continues the same publish session (its `connection` counts up): the broadcast's
// log, its session (decided by when it began), its recording and its job stay the same.
// What a lost connection means is decided by transitions.ts (pure).
// The ingest adapter talks to it through IngestCore only; the transcode worker through
// TranscodeCore (transcode-core.ts). Only these two write a stream's status, and each
// transition is announced once on `stream.status`.
import type pg from 'pg';
import { conflict, notFound, PublishRefused } from '../errors.js';
import type { Log } from '../log.js';
import type { Bus, PublisherDropReason } from '../redis/bus.js';
import type { TranscodeJobs } from '../transcode/jobs.js';
import { keyDigest, newPlaybackId, newStreamKey, STREAM_KEY_PATTERN } from './keys.js';
import * as reconnects from './reconnect-repo.js';
import { lowLatencyAdvice } from './low-latency-advice.js';
import * as repo from './repo.js';
import { announceStatus } from './transcode-core.js';
import { publisherGone } from './transitions.js';
import { ON_AIR_STATUSES, type PublishGrant, type SourceInfo, type Stream, type StreamStatus } from './types.js';

/** The narrow interface the RTMP adapter depends on. */
export interface IngestCore {
  /**
   * Lets a publisher in: a new publish, or the next connection of the stream's open one (its
   * publisher is back within the grace, or takes over `silent`: a connection of this ingest
   * that has sent nothing for a while, which a network drop leaves open).
   */
  authorizePublish(req: { streamKey: string; remoteAddress: string | null; silent?: { publishSessionId: string; connection: number } }): Promise<PublishGrant>;
  sourceReady(grant: PublishGrant, source: SourceInfo): Promise<void>;
  publishEnded(grant: PublishGrant, reason: string): Promise<void>;
  /**
   * Heartbeat for live publishers (also with none: it tells whether the database answers);
   * answers the publishers that must be dropped: key no longer valid, or publish session closed.
   */
  touch(publishers: { publishSessionId: string; connection: number; streamKey: string }[]): Promise<{ publishSessionId: string; reason: repo.DropReason }[]>;
  /** The publisher's measured keyframe interval: a mismatch with the segment length is told to the broadcaster. */
  keyframeInterval(grant: PublishGrant, seconds: number): Promise<void>;
}

export interface StreamsService extends IngestCore {
  create(input: { title: string; profile?: string; record?: boolean; lowLatency?: boolean; createdBy: string | null }): Promise<{ stream: Stream; streamKey: string }>;
  get(id: string): Promise<Stream>;
  list(opts: { status?: StreamStatus; assigned?: boolean; limit: number; after?: { createdAt: Date; id: string } }): Promise<Stream[]>;
  /** The event sessions each of these streams is assigned to. */
  sessionsOf(streamIds: string[]): Promise<Map<string, repo.StreamSessionLink[]>>;
  regenerateKey(id: string): Promise<{ stream: Stream; streamKey: string }>;
  /** Changes title, enabled, profile, record; disabling drops a live publisher. A new profile applies to the next publish. */
  update(id: string, patch: repo.StreamPatch): Promise<Stream>;
  /** Drops the publisher now and refuses the stream's publishes for the cool-off. */
  stop(id: string): Promise<Stream>;
  /** Deletes the stream; refused (409) while on air or assigned unless `force` (then it is stopped and its sessions lose it). */
  remove(id: string, opts: { force: boolean }): Promise<void>;
  publishSessions(id: string, opts: { limit: number; after?: { startedAt: Date; id: string } }): Promise<repo.PublishSessionView[]>;
  /** The stream's status as viewers are told it (`stream:status`); null for an unknown stream. */
  broadcastStatus(id: string): Promise<repo.BroadcastStatus | null>;
}

const SUPPORTED_VIDEO = new Set(['h264']);
/** How long a publisher waits for another ingest to let a silent connection go (looks × ms). */
const SILENT_TAKEOVER_LOOKS = 8;
const SILENT_TAKEOVER_LOOK_MS = 250;

/** What is wrong with a source for our ffmpeg, told so that a broadcaster can fix it; null if fine. */
export function sourceProblem(source: SourceInfo): string | null {
  if (source.videoCodec === 'none') return 'No video arrived within 5 s of publishing: send an H.264 video track.';
  if (!SUPPORTED_VIDEO.has(source.videoCodec)) {
    return (
      `Video codec ${source.videoCodec.toUpperCase()} is not supported: set the encoder to H.264 ` +
      `(x264, NVENC H.264 or QuickSync H.264) and publish again.`
    );
  }
  if (source.audioCodec === 'enhanced') {
    return 'Enhanced-RTMP audio (Opus, FLAC, AC-3 …) is not supported: set the audio encoder to AAC and publish again.';
  }
  return null;
}

export function createStreamsService(deps: {
  db: pg.Pool;
  bus: Bus;
  log: Log;
  jobs?: TranscodeJobs; // the ingest has it; the API does not enqueue
  ingestId?: string;
  pullBaseUrl?: string; // rtmp://<this ingest>:<port>/internal
  defaultProfile: string;
  profileExists: (name: string) => Promise<boolean>;
  segmentSeconds?: (profile: string) => Promise<number>; // the ingest has it, for keyframe advice
  stopCooloffSeconds?: number; // the API has it (STOP_COOLOFF_SECONDS)
  recordByDefault?: boolean; // the ingest has it (RECORD_BY_DEFAULT): what a stream whose `record` is unset does
  reconnectGraceSeconds?: number; // the ingest has it (RECONNECT_GRACE_SECONDS; 0 or absent: no grace)
}): StreamsService {
  const { db, log } = deps;
  // Since when this process has reached the database without a failed touch or publish check
  // (its own clock; null while it fails). A publish session goes stale whenever nobody can reach
  // the database — for its ingest as much as for us — so staleness proves its ingest gone only
  // once we have reached the database for a whole stale window ourselves.
  let reachableSince: number | null = Date.now();
  const reached = <T>(p: Promise<T>): Promise<T> =>
    p.then(
      (v) => {
        reachableSince ??= Date.now();
        return v;
      },
      (err) => {
        reachableSince = null;
        throw err;
      },
    );

  async function sessionLog(publishSessionId: string, level: 'info' | 'warn' | 'error', message: string) {
    await repo.appendSessionLog(db, { publishSessionId, level, message }).catch((err) => log.warn({ err }, 'Could not write the publish session log.'));
  }

  /**
   * An operator's action takes the stream off the air: its open publish session ends here (the
   * stream goes offline, the worker's publisher watch sees it ended and finishes the playlists),
   * and the ingest holding the publisher drops it on the bus message. Should the message be lost,
   * the ingest's heartbeat re-check (touch) finds the session ended and drops it all the same.
   */
  async function dropPublisher(stream: Stream, reason: PublisherDropReason, message: string) {
    const publishSessionId = stream.currentPublishSessionId;
    if (publishSessionId && (await repo.endPublishSession(db, { publishSessionId, reason }))) {
      await sessionLog(publishSessionId, 'warn', message);
      await announceStatus(deps.bus, { streamId: stream.id, publishSessionId }, 'offline');
    }
    await deps.bus.publish('stream.drop-publisher', { streamId: stream.id, reason });
  }

  /**
   * The database refused a publisher because another ingest holds the stream's publish (this one
   * would have taken over a silent connection of its own before asking): ask that ingest to let
   * its connection go if it is silent, and look again for a moment — the database still decides
   * who publishes. The publish continued (within the grace), or claimed afresh (no grace, or not
   * live yet), or null: the held connection is not silent.
   */
  async function askSilentHolder(o: { streamId: string; publishSessionId: string; ingestId: string; remoteAddress: string | null }) {
    const held = await reconnects.publishOf(db, o.publishSessionId);
    if (!held || held.ended) return null;
    await deps.bus.publish('stream.silent-takeover', { streamId: o.streamId, publishSessionId: o.publishSessionId, connection: held.connection }).catch(() => undefined);
    for (let i = 0; i < SILENT_TAKEOVER_LOOKS; i++) {
      await new Promise((r) => setTimeout(r, SILENT_TAKEOVER_LOOK_MS));
      const again = await reconnects.continuePublish(db, { streamId: o.streamId, ingestId: o.ingestId, remoteAddress: o.remoteAddress, silent: null });
      if (again) {
        await sessionLog(again.publishSessionId, 'info', `The publisher took over its silent connection at another ingest (connection ${again.connection}); the broadcast continues after a short discontinuity.`);
        return { continued: { publishSessionId: again.publishSessionId, connection: again.connection } };
      }
      const claimed = await repo.claimStream(db, { streamId: o.streamId, ingestId: o.ingestId, remoteAddress: o.remoteAddress });
      if (claimed) return { claimed };
    }
    return null;
  }

  const found = (stream: Stream | null): Stream => {
    if (!stream) throw notFound('The stream');
    return stream;
  };

  return {
    async create({ title, profile, record, lowLatency, createdBy }) {
      const profileName = profile ?? deps.defaultProfile;
      if (!(await deps.profileExists(profileName))) throw conflict(`There is no transcode profile named "${profileName}".`, 'unknown_profile');
      const streamKey = newStreamKey();
      const stream = await repo.insertStream(db, { title, keyDigest: keyDigest(streamKey), playbackId: newPlaybackId(), profile: profileName, createdBy, record: record ?? null, lowLatency: lowLatency ?? false });
      log.info({ streamId: stream.id }, 'Created a stream.');
      return { stream, streamKey };
    },

    async get(id) {
      const stream = await repo.findStream(db, id);
      if (!stream) throw notFound('The stream');
      return stream;
    },

    list: (opts) => repo.listStreams(db, opts),

    async sessionsOf(streamIds) {
      const byStream = new Map<string, repo.StreamSessionLink[]>(streamIds.map((id) => [id, []]));
      for (const link of await repo.sessionsOfStreams(db, streamIds)) byStream.get(link.streamId)?.push(link);
      return byStream;
    },

    async regenerateKey(id) {
      const streamKey = newStreamKey();
      const stream = await repo.updateKeyDigest(db, id, keyDigest(streamKey));
      if (!stream) throw notFound('The stream');
      // the ingest holding a publisher with the old key drops it
      await deps.bus.publish('stream.drop-publisher', { streamId: id, reason: 'key_regenerated' });
      log.info({ streamId: id }, 'Regenerated the stream key; any publisher using the old key is disconnected.');
      return { stream, streamKey };
    },

    async update(id, patch) {
      await this.get(id);
      if (patch.profile !== undefined && !(await deps.profileExists(patch.profile))) {
        throw conflict(`There is no transcode profile named "${patch.profile}".`, 'unknown_profile');
      }
      const stream = found(await repo.updateStream(db, id, patch));
      log.info({ streamId: id, fields: Object.keys(patch) }, 'Updated a stream.');
      if (patch.enabled === false) {
        await dropPublisher(stream, 'disabled', 'An operator disabled this stream: the publish was ended, and publishing is refused until it is enabled again.');
        return found(await repo.findStream(db, id));
      }
      return stream;
    },

    async stop(id) {
      const seconds = deps.stopCooloffSeconds;
      if (seconds === undefined) throw new Error('stop needs STOP_COOLOFF_SECONDS (API role only).');
      const stream = found(await repo.stopStream(db, { id, seconds }));
      await dropPublisher(stream, 'stopped', `An operator stopped this stream: the publish was ended, and publishing is refused for ${seconds} s.`);
      log.info({ streamId: id, seconds }, 'Stopped a stream; its publishes are refused for the cool-off.');
      return found(await repo.findStream(db, id));
    },

    async remove(id, { force }) {
      if (force) {
        await dropPublisher(await this.get(id), 'deleted', 'The stream was deleted.');
        if (!(await repo.deleteStream(db, { id, force: true }))) throw notFound('The stream');
        log.info({ streamId: id }, 'Deleted a stream (forced: stopped and unassigned).');
        return;
      }
      if (await repo.deleteStream(db, { id, force: false })) {
        log.info({ streamId: id }, 'Deleted a stream.');
        return;
      }
      const stream = await this.get(id); // 404 when there is no such stream
      if (ON_AIR_STATUSES.includes(stream.status)) {
        throw conflict('The stream is on air: stop it first, or delete it with ?force=true.', 'stream_live');
      }
      throw conflict('The stream is assigned to event sessions: unassign it first, or delete it with ?force=true.', 'stream_assigned');
    },

    async publishSessions(id, opts) {
      await this.get(id);
      return repo.listPublishSessions(db, id, opts);
    },

    broadcastStatus: (id) => repo.broadcastStatus(db, id),

    async authorizePublish(req) {
      const { streamKey, remoteAddress } = req;
      if (!STREAM_KEY_PATTERN.test(streamKey)) throw new PublishRefused('unknown_key', 'The stream key is not valid.');
      const stream = await reached(repo.findStreamByDigest(db, keyDigest(streamKey)));
      if (!stream) throw new PublishRefused('unknown_key', 'The stream key is not valid.');
      if (!stream.enabled) throw new PublishRefused('disabled', 'This stream is disabled.');
      if (stream.stoppedUntil) {
        const left = Math.max(1, Math.ceil((stream.stoppedUntil.getTime() - Date.now()) / 1000));
        const message = `An operator stopped this stream: publishing is refused for ${left} more s.`;
        // the broadcaster reads it in the publish log of the stopped publish
        if (stream.currentPublishSessionId) await sessionLog(stream.currentPublishSessionId, 'warn', `A publish was refused: ${message}`);
        throw new PublishRefused('stopped', message);
      }
      // a publisher whose ingest stopped touching it (crashed, cut off) no longer holds the
      // stream — but right after a database outage every session looks stale (nobody could touch
      // anything): judge only once this ingest has itself reached the database for a stale window
      if (reachableSince !== null && Date.now() - reachableSince >= repo.PUBLISHER_STALE_SECONDS * 1000) {
        await repo.endStalePublishSession(db, stream.id);
      }
      const ingestId = deps.ingestId ?? 'unknown';
      const grant = { streamId: stream.id, playbackId: stream.playbackId, profile: stream.profile, lowLatency: stream.lowLatency };
      // the publisher back within its grace (or taking over its own silent connection) continues the publish
      const continued = await reconnects.continuePublish(db, { streamId: stream.id, ingestId, remoteAddress, silent: req.silent ?? null });
      if (continued) {
        const { publishSessionId, connection } = continued;
        if (continued.wasStatus !== 'reconnecting') await announceStatus(deps.bus, { streamId: stream.id, publishSessionId }, 'reconnecting');
        const how = req.silent && continued.wasStatus === 'live' ? 'took over its silent connection' : 'is back';
        await sessionLog(publishSessionId, 'info', `The publisher ${how} (connection ${connection}); the broadcast continues after a short discontinuity.`);
        // a continued publish keeps the mode it started in
        return { ...grant, publishSessionId, connection, lowLatency: await repo.publishLowLatency(db, publishSessionId) };
      }
      if (req.silent) {
        // a silent connection of a publish that is not on air for viewers yet: nothing to continue,
        // it ends and this publisher starts afresh
        await this.publishEnded({ ...grant, ...req.silent }, 'publisher_silent');
      }
      let publishSessionId = await repo.claimStream(db, { streamId: stream.id, ingestId, remoteAddress });
      if (!publishSessionId && stream.currentPublishSessionId) {
        const after = await askSilentHolder({ streamId: stream.id, publishSessionId: stream.currentPublishSessionId, ingestId, remoteAddress });
        if (after?.continued) return { ...grant, ...after.continued };
        publishSessionId = after?.claimed ?? null;
      }
      if (!publishSessionId) throw new PublishRefused('already_live', 'Another encoder is already publishing to this stream.');
      await announceStatus(deps.bus, { streamId: stream.id, publishSessionId }, 'starting');
      await sessionLog(publishSessionId, 'info', 'Publisher connected; waiting for the codec information.');
      return { ...grant, publishSessionId, connection: 1 };
    },

    async sourceReady(grant, source) {
      await repo.recordSource(db, grant.publishSessionId, source);
      const problem = sourceProblem(source);
      if (problem) {
        await sessionLog(grant.publishSessionId, 'error', problem);
        if (await repo.endPublishSession(db, { publishSessionId: grant.publishSessionId, reason: 'unsupported_codec', statusReason: problem, connection: grant.connection })) {
          await announceStatus(deps.bus, grant, 'offline');
        }
        throw new PublishRefused('unsupported_codec', problem);
      }
      if (!deps.jobs || !deps.pullBaseUrl) throw new Error('sourceReady needs the transcode queue (ingest role only).');
      const gop = source.keyframeIntervalSeconds
        ? `, keyframes every ${source.keyframeIntervalSeconds.toFixed(1)} s${source.bFrames ? ' with B-frames' : ''}`
        : source.keyframeIntervalAtLeastSeconds
          ? `, keyframes more than ${source.keyframeIntervalAtLeastSeconds.toFixed(1)} s apart`
          : '';
      const shape = `${source.videoCodec} ${source.width ?? '?'}x${source.height ?? '?'} @ ${source.fps ?? '?'} fps, ${source.videoBitrateKbps ?? '?'} kb/s${gop}, audio ${source.audioCodec ?? 'none'}`;
      const pullUrl = `${deps.pullBaseUrl}/${grant.publishSessionId}`;
      // the running job pulls a continued publish's new connection from here (it may be on
      // another ingest, or at another resolution)
      await reconnects.recordFeed(db, grant.publishSessionId, { connection: grant.connection, pullUrl, source });
      if (grant.connection > 1) {
        await sessionLog(grant.publishSessionId, 'info', `Source: ${shape}. The running transcode continues with it.`);
        return;
      }
      // the job carries the decision, read as the publish starts: a later change applies to the next publish
      const record = (await repo.streamRecordSetting(db, grant.streamId)) ?? deps.recordByDefault ?? false;
      if (grant.lowLatency) {
        await repo.markLowLatency(db, grant.publishSessionId);
        for (const a of lowLatencyAdvice(source)) await sessionLog(grant.publishSessionId, a.level, a.message);
      }
      await sessionLog(grant.publishSessionId, 'info', `Source: ${shape}. Transcoding queued${grant.lowLatency ? ' in low-latency mode' : ''}${record ? ', recorded' : ''}.`);
      await deps.jobs.enqueueLive({
        streamId: grant.streamId, publishSessionId: grant.publishSessionId, playbackId: grant.playbackId, profile: grant.profile, pullUrl, source, record,
        ...(grant.lowLatency ? { lowLatency: true } : {}),
      });
    },

    async publishEnded(grant, reason) {
      const graceSeconds = deps.reconnectGraceSeconds ?? 0;
      const publish = await reconnects.publishOf(db, grant.publishSessionId);
      const what = publisherGone({ reason, connection: grant.connection, graceSeconds, publish });
      if (what === 'reconnect') {
        // the job stays: its ffmpeg's input ends, and it waits for the publisher (or the grace's end)
        if (await reconnects.awaitPublisher(db, { publishSessionId: grant.publishSessionId, connection: grant.connection, graceSeconds })) {
          await sessionLog(grant.publishSessionId, 'warn', `The publisher's connection was lost (${reason}); the broadcast waits ${graceSeconds} s for it to come back.`);
          await announceStatus(deps.bus, grant, 'reconnecting');
        }
        return;
      }
      // a newer connection continues the publish: this one's end is nothing to the publish or its job
      if (what === 'ignore' && publish && !publish.ended) return;
      const ended = what === 'end' && (await repo.endPublishSession(db, { publishSessionId: grant.publishSessionId, reason, connection: grant.connection }));
      if (ended) await sessionLog(grant.publishSessionId, 'info', `Publish ended (${reason}).`);
      await deps.jobs?.cancelLive(grant.publishSessionId);
      if (ended) await announceStatus(deps.bus, grant, 'offline');
    },

    async keyframeInterval(grant, seconds) {
      if (grant.lowLatency) return; // measured and told as the publish started (lowLatencyAdvice)
      const segment = await deps.segmentSeconds?.(grant.profile).catch(() => null);
      if (!segment || Math.abs(seconds - segment) <= 0.25) return;
      const message =
        `Your encoder sends a keyframe every ${seconds.toFixed(1)} s; set its keyframe interval to ${segment} s ` +
        `(OBS: Settings › Output › Keyframe Interval) so that all renditions cut their segments at the same instants.`;
      log.warn({ streamId: grant.streamId, publishSessionId: grant.publishSessionId, seconds }, 'The publisher’s keyframe interval does not match the segment length.');
      await sessionLog(grant.publishSessionId, 'warn', message);
    },

    async touch(publishers) {
      const drop = await reached(repo.touchPublishSessions(db, publishers.map((p) => ({ id: p.publishSessionId, connection: p.connection, keyDigest: keyDigest(p.streamKey) }))));
      return drop.map((d) => ({ publishSessionId: d.id, reason: d.reason }));
    },
  };
}
