// Fences one node-media-server RTMP session (part of the ingest adapter: it patches the session's
// parser, never imports node-media-server). Its parser throws on malformed input inside a socket
// handler, it has no limits on message size, chunk streams or chunk size, and it keeps a
// stream-path entry per publish/play command but releases one per connection: each of those is
// bounded here, and what breaks a rule ends that connection only.
import type { Socket } from 'node:net';
import { redactText, type Log } from '../log.js';
import type { LogThrottle } from './log-throttle.js';

const MAX_MESSAGE_BEFORE_PUBLISH = 64 * 1024;
const MAX_MESSAGE_BEFORE_GRANT = 2 * 1024 * 1024; // media flows while the key is checked (ms)
const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;
const MAX_CHUNK_STREAMS = 16;
const MAX_CHUNK_SIZE = 16 * 1024 * 1024;

export function guardSession(o: {
  socket: Socket;
  session: any; // node-media-server's RtmpSession
  /** Whether the session's publish passed the key check (bigger messages are then allowed). */
  granted: () => boolean;
  /** A video keyframe arrived (its dts). */
  onKeyframe: (dts: number) => void;
  /** Every video packet (its dts and FLV data), for the low-latency GOP measure. */
  onVideo: (dts: number, data: Buffer) => void;
  throttle: LogThrottle;
  log: Log;
}): void {
  const { socket, session } = o;
  const rtmp = session.rtmp;
  const parse = rtmp.parserData.bind(rtmp);
  const alloc = rtmp.packetAlloc.bind(rtmp);
  const control = rtmp.controlHandler.bind(rtmp);
  rtmp.packetAlloc = () => {
    const length: number = rtmp.parserPacket.header.length;
    const limit = o.granted() ? MAX_MESSAGE_BYTES : session.streamPath ? MAX_MESSAGE_BEFORE_GRANT : MAX_MESSAGE_BEFORE_PUBLISH;
    if (length > limit) throw new Error(`message of ${length} bytes exceeds ${limit}`);
    if (rtmp.inPackets.size > MAX_CHUNK_STREAMS) throw new Error('too many chunk streams');
    return alloc();
  };
  rtmp.controlHandler = () => {
    control();
    const size = rtmp.inChunkSize;
    if (!Number.isInteger(size) || size < 1 || size > MAX_CHUNK_SIZE) throw new Error(`absurd chunk size ${size}`);
  };
  rtmp.parserData = (data: Buffer) => {
    if (socket.destroyed) return null;
    try {
      return parse(data);
    } catch (err) {
      const dropped = o.throttle.take('malformed');
      if (dropped !== null) o.log.warn({ remote: socket.remoteAddress, err: redactText((err as Error).message), dropped }, 'Malformed RTMP input; closing that connection.');
      socket.destroy();
      return null;
    }
  };
  // One publish or play per connection (an encoder sends one). node-media-server registers a
  // broadcast for the path of every publish/play command and re-points the session at it, but
  // releases only the session's last one when it closes: each extra command on a connection
  // would leave a path entry (holding the whole session) behind. A name it finds unsafe gets no
  // path at all, and only a half-close: both end the connection here.
  const onCommand = rtmp.onConnectCallback;
  let commanded = false;
  rtmp.onConnectCallback = (req: unknown) => {
    if (commanded) throw new Error('a second publish or play on one connection');
    commanded = true;
    onCommand(req);
    if (!session.streamPath) throw new Error('a stream path with characters RTMP names may not hold');
  };
  // remember the first audio/video packets: codecs without a sequence header (e.g. Sorenson)
  // are only recognisable from them
  const onPacket = rtmp.onPacketCallback;
  rtmp.onPacketCallback = (packet: { codec_type: number; flags: number; dts: number; data: Buffer }) => {
    if (packet.codec_type === 9 && !session.onairFirstVideo) session.onairFirstVideo = packet.data;
    if (packet.codec_type === 9 && packet.flags === 3) o.onKeyframe(packet.dts);
    if (packet.codec_type === 9) o.onVideo(packet.dts, packet.data);
    if (packet.codec_type === 8 && !session.onairFirstAudio) session.onairFirstAudio = packet.data;
    onPacket(packet);
  };
}
