// Bounds what the ingest queues for one internal puller (a worker's ffmpeg playing
// /internal/<publishSessionId>). node-media-server hands every packet of a broadcast to each
// subscriber's sendBuffer, which calls socket.write and ignores its return value: a puller that
// stops reading (a stopped or starved ffmpeg, a half-dead network path) makes Node queue every
// packet for it in the ingest's memory, without end, until the process dies and takes every
// stream with it. Here a puller whose queue is over the limit is dropped instead; the publisher
// and the other pullers of the broadcast do not notice, and the worker restarts its ffmpeg as it
// does for any ffmpeg exit.
import type { Socket } from 'node:net';

/**
 * Bytes Node may hold queued for one puller before it is dropped. A healthy puller on the same
 * host or LAN drains its queue within milliseconds; this is about 10 s of a 6 Mbit/s source, and
 * more than the GOP node-media-server replays to a puller the moment it joins (a 2 s GOP at
 * 20 Mbit/s is 5 MB). Checked before each write, so a single message (at most 8 MiB) always
 * goes out to an empty queue: a puller costs at most this plus one message.
 */
export const MAX_PULLER_QUEUE_BYTES = 8 * 1024 * 1024;

/**
 * Wraps a playing session's sendBuffer: a write that finds more than `limitBytes` queued on
 * the socket destroys the socket instead (once) and calls onStalled with what was queued.
 */
export function boundPullerQueue(o: { session: { socket: Socket; sendBuffer: (b: Buffer) => void }; limitBytes: number; onStalled: (queuedBytes: number) => void }): void {
  const { session } = o;
  const socket = session.socket;
  const send = session.sendBuffer;
  session.sendBuffer = (buffer: Buffer) => {
    if (socket.destroyed) return; // dropped: its close reaches node-media-server a moment later
    const queued = socket.writableLength;
    if (queued > o.limitBytes) {
      socket.destroy();
      o.onStalled(queued);
      return;
    }
    send(buffer);
  };
}
