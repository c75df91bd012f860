// The relay output of a live transcode (multistreaming): the source as received (codec copy)
// goes to every enabled destination of the stream. It adds one output to the run's one ffmpeg —
// the source copied into FLV on a pipe (relayArgs) — and the worker reads that pipe into a
// fan-out feeding one RTMP(S) publisher per destination (destination-relay.ts). The stream key
// never reaches ffmpeg's argv, each destination has its own connection and bounded queue, and
// the seam drains the pipe whatever happens, so no destination can hold back the ladder, the
// recording or the other destinations.
//
// Destinations are re-read when the API announces a change (`stream.destinations-changed`) and
// every few seconds (a lost message delays a change, never loses it): an added, enabled,
// disabled, changed or deleted destination takes effect without touching ffmpeg. Publishers live
// across the runs of one broadcast (an ffmpeg restart, the reconnect grace: the destination's
// timeline goes on) and stop when it ends. The stream's lease is the relay's lease: a worker
// relays a stream's destinations only while it runs the stream's ffmpeg, and stops them before
// it hands the stream over.
import type { OutputStatus, TranscodeOutput } from '../transcode/outputs.js';
import type { Log } from '../log.js';
import { DestinationRelay, type DestinationRelayDeps } from './destination-relay.js';
import { FlvFanout } from './flv-fanout.js';
import type { RelayDestination } from './service.js';

/** The ffmpeg output of the relay: pure, pinned by a golden test. */
export function relayArgs(o: { pipe: string }): string[] {
  if (!/^pipe:[0-9]{1,3}$/.test(o.pipe)) throw new Error(`The relay target "${o.pipe}" must be a pipe.`);
  return [
    // the source as received: the platforms transcode themselves
    '-map', '0:v?', '-map', '0:a?', '-c', 'copy',
    // a pipe can not be rewound to write the duration and size at the end
    '-flvflags', 'no_duration_filesize',
    '-f', 'flv', o.pipe,
  ];
}

export interface RelayOutputDeps extends Omit<DestinationRelayDeps, 'log'> {
  /** The stream's enabled destinations, keys decrypted (in memory only). */
  destinations(streamId: string): Promise<RelayDestination[]>;
  /** Calls `fn` when the API announces a change of the stream's destinations; answers the unsubscribe. */
  onChange(streamId: string, fn: () => void): () => void;
  /** How often destinations are re-read without an announcement. */
  refreshMs?: number;
}

const SYNC_MS = 1_000;

export function relayOutput(o: { streamId: string; deps: RelayOutputDeps }): TranscodeOutput {
  const { deps } = o;
  const relays = new Map<string, DestinationRelay>();
  let fan: FlvFanout | null = null;
  let log: Log | null = null;
  let timers: NodeJS.Timeout[] = [];
  let unsubscribe: (() => void) | null = null;
  let refreshing: Promise<void> = Promise.resolve();
  let refreshAgain = false;
  let running = false;
  let lastRefreshError: string | null = null;
  let fanErrorLogged = false;

  /** Brings the relays in line with the stream's destinations (one refresh at a time; one more if asked meanwhile). */
  const refresh = (): Promise<void> => {
    if (refreshAgain) return refreshing;
    refreshAgain = true;
    refreshing = refreshing.then(async () => {
      refreshAgain = false;
      if (!running || !log) return;
      let wanted: RelayDestination[];
      try {
        wanted = await deps.destinations(o.streamId);
        lastRefreshError = null;
      } catch (err) {
        // the database is away: keep relaying what there is, read again later
        lastRefreshError = (err as Error).message;
        log.warn({ err: lastRefreshError }, 'Could not read the stream’s relay destinations; keeping the current ones.');
        return;
      }
      if (!running) return;
      const ids = new Set(wanted.map((d) => d.id));
      for (const [id, relay] of relays) {
        if (ids.has(id)) continue;
        relays.delete(id);
        await relay.stop('idle'); // disabled (a deleted one's row is gone: nothing is written)
      }
      for (const d of wanted) {
        const relay = relays.get(d.id);
        if (relay) relay.update(d);
        else {
          const fresh = new DestinationRelay(d, { ...deps, log: log.child({ destinationId: d.id }) });
          relays.set(d.id, fresh);
          fresh.start(fan);
        }
      }
    });
    return refreshing;
  };

  const stopAll = async (final: 'idle' | null) => {
    running = false;
    for (const t of timers) clearInterval(t);
    timers = [];
    unsubscribe?.();
    unsubscribe = null;
    await refreshing;
    const all = [...relays.values()];
    relays.clear();
    await Promise.all(all.map((r) => r.stop(final)));
  };

  return {
    name: 'relay',
    async prepare(run, ff) {
      log = run.log.child({ output: 'relay' });
      // a new run's FLV starts over: the publishers (kept across runs) continue their timelines from it
      const runFan = new FlvFanout();
      fan = runFan;
      fanErrorLogged = false;
      const pipe = ff.pipe((input) => void runFan.consume(input));
      ff.output(relayArgs({ pipe }));
      for (const relay of relays.values()) relay.useSource(runFan);
      if (!running) {
        running = true;
        unsubscribe = deps.onChange(o.streamId, () => void refresh());
        timers = [
          setInterval(() => void refresh(), deps.refreshMs ?? 10_000).unref(),
          setInterval(() => {
            for (const relay of relays.values()) void relay.sync();
          }, SYNC_MS).unref(),
        ];
        await refresh();
      }
    },
    // never throws: a failed output would sit out the rest of the run without its runEnded, and the
    // relay must always stop its connections when the broadcast ends
    async tick() {
      if (fan?.error && !fanErrorLogged) {
        fanErrorLogged = true;
        log?.error({ err: fan.error }, 'ffmpeg’s FLV copy of the source could not be read; the destinations get nothing until the next run.');
      }
    },
    async runEnded(how) {
      fan = null;
      for (const relay of relays.values()) relay.useSource(null);
      if (how === 'ended' || how === 'failed') await stopAll('idle');
      else if (how === 'handover') await stopAll(null); // whoever runs the stream next writes the rows
      // restart, reconnecting: the connections stay; the next run feeds them
    },
    status(): OutputStatus {
      const counts = new Map<string, number>();
      for (const relay of relays.values()) counts.set(relay.status(), (counts.get(relay.status()) ?? 0) + 1);
      const detail = [...counts].map(([s, n]) => `${n} ${s}`).join(', ') || 'no destinations';
      const problems = [lastRefreshError && `destinations could not be read (${lastRefreshError})`, fan?.error && `the FLV copy could not be read (${fan.error})`].filter(Boolean);
      return { state: running ? 'running' : 'idle', detail: [detail, ...problems].join('; ') };
    },
  };
}
