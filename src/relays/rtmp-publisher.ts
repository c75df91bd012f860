// An RTMP(S) publisher: sends the FLV tags of a live source to one destination, so a stream
// key never appears in ffmpeg's argv (/proc/<pid>/cmdline is world-readable). One publisher per
// destination and connection; it never pushes back on its source (see tag-queue.ts), and when
// it fails it says why in words, without the key. Retrying is its owner's business: a failed
// publisher stays failed, the owner makes a new one.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { redactText, type Log } from '../log.js';
import { decodeAmf0All, encodeAmf0, encodeAmf0All, type Amf0 } from './amf0.js';
import { TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO, type FlvTag } from './flv-reader.js';
import { ChunkReader, encodeMessage, type RtmpMessage } from './rtmp-chunks.js';
import { describeSocketError, scrubKey } from './relay-errors.js';
import { parseRtmpUrl, trustedCas, type RtmpTarget } from './rtmp-url.js';
import { DEFAULT_QUEUE_LIMITS, TagQueue, type TagQueueLimits } from './tag-queue.js';
import { Throughput } from './throughput.js';

export type PublisherState = 'idle' | 'connecting' | 'live' | 'failed' | 'stopped';

export interface PublisherStatus {
  state: PublisherState;
  lastError: string | null;
  bytesSent: number;
  bitrateKbps: number;
  connectedAt: Date | null;
  keyframeDrops: number;
  droppedTags: number;
  queuedBytes: number;
}

export interface RtmpPublisherOptions {
  url: string; // rtmp(s)://host[:port]/app, without the key
  streamKey: string;
  /** The address to connect to, as checked right before (url-check.ts): no second DNS answer between the check and the connect. The URL's host still names the server (TLS). */
  address?: string;
  log: Log;
  extraCaPem?: string | null;
  systemCaFile?: string;
  limits?: TagQueueLimits;
  connectTimeoutMs?: number; // until the destination accepts the publish
  chunkSize?: number;
}

const HANDSHAKE_BYTES = 1536;
const WRITE_HIGH_WATER = 256 * 1024; // what may sit in the socket's buffer; the rest waits in the queue
const CSID = { control: 2, command: 3, audio: 4, data: 5, video: 6 } as const;
const TX = { connect: 1, releaseStream: 2, fcPublish: 3, createStream: 4, publish: 5 } as const;
// the gap before a new run's first frame until the source's own frame interval is known
const FRAME_GAP_MS = 40;
const FLASH_VER = 'FMLE/3.0 (compatible; Onair)';

export class RtmpPublisher {
  private state: PublisherState = 'idle';
  private lastError: string | null = null;
  private connectedAt: Date | null = null;
  private socket: net.Socket | null = null;
  private readonly target: RtmpTarget;
  private readonly queue: TagQueue;
  private readonly reader = new ChunkReader();
  private readonly throughput = new Throughput();
  private readonly chunkSize: number;
  /** The server URL for logs; redacted too, in case a key was pasted into its path. */
  private readonly logUrl: string;
  private handshake: Buffer | null = Buffer.alloc(0); // null once done
  private received = 0;
  private ackedAt = 0;
  private windowAck = 2_500_000;
  private streamId = 0;
  private publishSent = false;
  private baseTs: number | null = null;
  private lastTs = 0;
  private lastVideoTs: number | null = null;
  private frameGapMs = FRAME_GAP_MS; // the source's frame interval, as last seen
  private rebase = false;
  private timer: NodeJS.Timeout | null = null;
  private resolveDone!: (s: PublisherStatus) => void;
  /** Resolves once the publisher has failed or been stopped. */
  readonly done = new Promise<PublisherStatus>((r) => (this.resolveDone = r));

  constructor(private readonly o: RtmpPublisherOptions) {
    this.target = parseRtmpUrl(o.url);
    this.queue = new TagQueue(o.limits ?? DEFAULT_QUEUE_LIMITS);
    this.chunkSize = o.chunkSize ?? 4096;
    this.logUrl = scrubKey(redactText(this.target.tcUrl), o.streamKey);
  }

  status(): PublisherStatus {
    return {
      state: this.state,
      lastError: this.lastError,
      bytesSent: this.throughput.total,
      bitrateKbps: this.throughput.kbps(),
      connectedAt: this.connectedAt,
      keyframeDrops: this.queue.keyframeDrops,
      droppedTags: this.queue.droppedTags,
      queuedBytes: this.queue.queuedBytes,
    };
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'connecting';
    const { host, port, secure } = this.target;
    const address = this.o.address ?? host;
    this.o.log.info({ destination: this.logUrl }, 'Relay connecting to the destination.');
    const socket = secure
      ? tls.connect({ host: address, port, servername: net.isIP(host) ? undefined : host, ca: trustedCas({ extraCaPem: this.o.extraCaPem, systemCaFile: this.o.systemCaFile }), rejectUnauthorized: true })
      : net.connect({ host: address, port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.once(secure ? 'secureConnect' : 'connect', () => this.sendC0C1());
    socket.on('data', (d: Buffer) => this.guard(() => this.onData(d)));
    socket.on('drain', () => this.guard(() => this.pump()));
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(describeSocketError({ err, target: this.target, streamKey: this.o.streamKey })));
    socket.on('close', () => this.fail(this.publishSent && this.state === 'connecting' ? 'the destination closed the connection before accepting the stream (is the stream key right?)' : 'the destination closed the connection'));
    this.timer = setTimeout(() => this.fail(`the destination did not accept the stream within ${Math.round((this.o.connectTimeoutMs ?? 15_000) / 1000)} s`), this.o.connectTimeoutMs ?? 15_000);
  }

  /** Takes one tag from the source; never blocks and never throws. */
  offer(tag: FlvTag): void {
    if (this.state === 'failed' || this.state === 'stopped') return;
    this.queue.push(tag);
    if (this.state === 'live') this.guard(() => this.pump());
  }

  /**
   * The FLV source starts over (a new ffmpeg run, its timestamps from its own zero): the
   * connection stays, the destination's timeline goes on from where it was.
   */
  sourceRestarted(): void {
    this.queue.restart();
    this.rebase = true;
  }

  stop(): void {
    if (this.state === 'failed' || this.state === 'stopped') return;
    this.state = 'stopped';
    this.o.log.info({ destination: this.logUrl }, 'Relay stopped.');
    this.finish();
  }

  // ---- connection ------------------------------------------------------------------------

  private sendC0C1(): void {
    const c1 = Buffer.alloc(1 + HANDSHAKE_BYTES);
    c1[0] = 3; // RTMP version
    c1.writeUInt32BE(0, 1); // time
    c1.writeUInt32BE(0, 5); // zero: the simple (unsigned) handshake
    randomBytes(HANDSHAKE_BYTES - 8).copy(c1, 9);
    this.write(c1);
  }

  private onData(d: Buffer): void {
    this.received += d.length;
    if (this.handshake) {
      this.handshake = Buffer.concat([this.handshake, d]);
      if (this.handshake.length < 1 + 2 * HANDSHAKE_BYTES) return;
      if (this.handshake[0] !== 3) return this.fail(`the destination answered with RTMP version ${this.handshake[0]} (is it an RTMP server?)`);
      this.write(this.handshake.subarray(1, 1 + HANDSHAKE_BYTES)); // C2 echoes S1
      const rest = this.handshake.subarray(1 + 2 * HANDSHAKE_BYTES);
      this.handshake = null;
      this.sendConnect();
      if (rest.length === 0) return;
      d = rest;
    }
    for (const m of this.reader.push(d)) this.onMessage(m);
    if (this.received - this.ackedAt >= this.windowAck) {
      this.ackedAt = this.received;
      this.control(3, u32(this.received >>> 0));
    }
  }

  private sendConnect(): void {
    this.control(1, u32(this.chunkSize));
    const { app, tcUrl } = this.target;
    this.command(TX.connect, 'connect', { app, type: 'nonprivate', flashVer: FLASH_VER, tcUrl, swfUrl: tcUrl });
  }

  private onMessage(m: RtmpMessage): void {
    switch (m.typeId) {
      case 4: // user control: answer a ping request (6) with a pong (7)
        if (m.payload.readUInt16BE(0) === 6 && m.payload.length >= 6) this.control(4, Buffer.concat([Buffer.from([0, 7]), m.payload.subarray(2, 6)]));
        return;
      case 5:
        if (m.payload.length >= 4) this.windowAck = Math.max(1, m.payload.readUInt32BE(0));
        return;
      case 6: // set peer bandwidth: confirm with our window (what librtmp and ffmpeg do)
        if (m.payload.length >= 4) this.control(5, m.payload.subarray(0, 4));
        return;
      case 17: // AMF3 command: a format byte, then AMF0
        return this.onCommand(decodeAmf0All(m.payload.subarray(1)));
      case 20:
        return this.onCommand(decodeAmf0All(m.payload));
    }
  }

  private onCommand(v: Amf0[]): void {
    const [name, txn] = v;
    const info = v[3] as { [k: string]: Amf0 } | undefined;
    if (name === '_result' && txn === TX.connect) {
      const key = this.o.streamKey;
      // platforms (YouTube, Twitch, Facebook) expect these before createStream, as OBS sends them
      this.command(TX.releaseStream, 'releaseStream', null, key);
      this.command(TX.fcPublish, 'FCPublish', null, key);
      this.command(TX.createStream, 'createStream', null);
    } else if (name === '_result' && txn === TX.createStream) {
      this.streamId = typeof v[3] === 'number' ? v[3] : 1;
      this.publishSent = true;
      this.send({ csid: CSID.command, typeId: 20, streamId: this.streamId, timestamp: 0, payload: encodeAmf0All('publish', TX.publish, null, this.o.streamKey, 'live') });
    } else if (name === '_error' && (txn === TX.connect || txn === TX.createStream || txn === TX.publish)) {
      this.fail(`the destination refused the ${txn === TX.connect ? 'connection' : 'stream'}${this.describeInfo(info)}`);
    } else if (name === 'onStatus' && info && typeof info === 'object') {
      const code = String(info.code ?? '');
      if (code === 'NetStream.Publish.Start') this.goLive();
      else if (info.level === 'error' || /BadName|Rejected|Failed|Denied/i.test(code)) this.fail(`the destination refused the stream${this.describeInfo(info)}`);
    } else if (name === 'close') {
      this.fail('the destination closed the stream');
    }
  }

  private goLive(): void {
    if (this.state !== 'connecting') return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.state = 'live';
    this.connectedAt = new Date();
    this.o.log.info({ destination: this.logUrl }, 'Relay is live at the destination.');
    this.pump();
  }

  // ---- media -----------------------------------------------------------------------------

  /** Moves tags from the queue to the socket while the socket's own buffer is small. */
  private pump(): void {
    const socket = this.socket;
    if (this.state !== 'live' || !socket) return;
    while (socket.writableLength < WRITE_HIGH_WATER) {
      const tags = this.queue.take(32);
      if (tags.length === 0) return;
      for (const t of tags) this.sendTag(t);
    }
  }

  private sendTag(t: FlvTag): void {
    let ts = this.lastTs; // headers go out at the time of what follows them
    if (t.type !== TAG_SCRIPT && !t.sequenceHeader) {
      // the destination's timeline starts at 0 at the first frame sent (its own key frame)
      // after a source restart the new run's first frame follows the last one sent, one frame
      // interval of the source later (a shorter gap puts two frames of a low frame rate into one
      // frame slot: ffmpeg, and so a platform's transcoder, reads non-monotonic timestamps)
      const rebased = this.rebase;
      if (rebased) this.baseTs = t.timestamp - (this.lastTs + this.frameGapMs);
      this.rebase = false;
      this.baseTs ??= t.timestamp;
      ts = Math.max(0, t.timestamp - this.baseTs);
      this.lastTs = ts;
      if (t.type === TAG_VIDEO) {
        const gap = this.lastVideoTs === null ? 0 : ts - this.lastVideoTs;
        if (!rebased && gap > 0 && gap <= 1_000) this.frameGapMs = gap; // the join itself is no frame interval
        this.lastVideoTs = ts;
      }
    }
    if (t.type === TAG_SCRIPT) {
      this.send({ csid: CSID.data, typeId: 18, streamId: this.streamId, timestamp: ts, payload: Buffer.concat([encodeAmf0('@setDataFrame'), t.data]) });
    } else {
      this.send({ csid: t.type === TAG_AUDIO ? CSID.audio : CSID.video, typeId: t.type, streamId: this.streamId, timestamp: ts, payload: t.data });
    }
  }

  // ---- plumbing --------------------------------------------------------------------------

  private command(txn: number, name: string, ...args: Amf0[]): void {
    this.send({ csid: CSID.command, typeId: 20, streamId: 0, timestamp: 0, payload: encodeAmf0All(name, txn, ...args) });
  }

  private control(typeId: number, payload: Buffer): void {
    this.send({ csid: CSID.control, typeId, streamId: 0, timestamp: 0, payload });
  }

  private send(m: RtmpMessage): void {
    this.write(encodeMessage(m, this.chunkSize));
  }

  private write(b: Buffer): void {
    if (!this.socket || this.socket.destroyed) return;
    this.socket.write(b);
    this.throughput.add(b.length);
  }

  /** A server's words (code, description), with the key taken out should a server echo it. */
  private describeInfo(info: { [k: string]: Amf0 } | undefined): string {
    if (!info || typeof info !== 'object') return '';
    const words = [info.code, info.description].filter((x) => typeof x === 'string' && x !== '').join(': ');
    return words ? ` (${this.scrub(words)})` : '';
  }

  private scrub(text: string): string {
    return scrubKey(text, this.o.streamKey);
  }

  /** Anything unexpected from the network (a malformed answer) fails this publisher only. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fail(`the destination sent something this relay does not understand: ${this.scrub((err as Error).message)}`);
    }
  }

  private fail(reason: string): void {
    if (this.state === 'failed' || this.state === 'stopped') return;
    this.state = 'failed';
    this.lastError = reason;
    this.o.log.warn({ destination: this.logUrl, reason }, 'Relay to the destination failed.');
    this.finish();
  }

  private finish(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.socket?.destroy();
    this.throughput.stop();
    this.resolveDone(this.status());
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
