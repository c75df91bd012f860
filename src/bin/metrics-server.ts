// The /metrics listener of a role without an HTTP server of its own (ingest, worker).
import type { Registry } from 'prom-client';
import { serveMetrics } from '../metrics.js';
import type { RoleContext } from './role.js';

export async function startMetricsServer(o: RoleContext & { registry: Registry }): Promise<void> {
  const { config, log } = o;
  if (config.metricsPort === 0) return void log.info('Metrics are off: set METRICS_PORT to serve /metrics.');
  try {
    const server = await serveMetrics({ registry: o.registry, key: config.internalApiKey, host: config.metricsHost, port: config.metricsPort });
    o.onShutdown(() => server.close());
    log.info({ metricsPort: server.port, metricsHost: config.metricsHost }, `Metrics at http://${config.metricsHost}:${server.port}/metrics (Authorization: Bearer <INTERNAL_API_KEY>).`);
  } catch (err) {
    throw new Error(`METRICS_PORT ${config.metricsPort} on ${config.metricsHost} could not be opened (${(err as Error).message}): set METRICS_PORT to a free port, or 0 to turn metrics off.`);
  }
}
