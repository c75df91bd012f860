// The origin's /metrics: held requests, answers by outcome, and how late messages arrive.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { METRICS_PREFIX } from '../metrics.js';

/**
 * ok: answered at once; held_ok: answered after being held; bad_request: 400; not_found: 404;
 * timeout: 503 after 3 × target duration; unavailable: 503 (origin full or stopping);
 * client_gone: the client (nginx) closed a held request first.
 */
export const OUTCOMES = ['ok', 'held_ok', 'bad_request', 'not_found', 'timeout', 'unavailable', 'client_gone'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface OriginMetrics {
  registry: Registry;
  held: Gauge<'kind'>;
  answered: Counter<'kind' | 'outcome'>;
  messageLagSeconds: Histogram;
  messagesDropped: Counter<'why'>;
}

export function createOriginMetrics(o: { processMetrics?: boolean; renditions: () => number } = { renditions: () => 0 }): OriginMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ role: 'origin' });
  if (o.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: METRICS_PREFIX });
  const registers = [registry];
  new Gauge({ name: 'onair_llhls_renditions', help: 'Low-latency renditions whose newest playlist this origin holds.', registers, collect() { this.set(o.renditions()); } });
  return {
    registry,
    held: new Gauge({ name: 'onair_llhls_held_requests', help: 'Requests held right now (blocking playlist reloads, hinted parts).', labelNames: ['kind'] as const, registers }),
    answered: new Counter({ name: 'onair_llhls_requests_total', help: 'Playlist and part requests the origin answered, by kind and outcome.', labelNames: ['kind', 'outcome'] as const, registers }),
    messageLagSeconds: new Histogram({
      name: 'onair_llhls_message_lag_seconds',
      help: 'From the worker publishing an llhls.part message to this origin taking it in (clocks of two hosts may differ).',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    messagesDropped: new Counter({ name: 'onair_llhls_messages_dropped_total', help: 'llhls.part messages dropped: invalid, stale (older than the held one), full (no room).', labelNames: ['why'] as const, registers }),
  };
}
