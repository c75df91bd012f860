// What every composition root shares: config once, a logger, signal handling, and a clear exit.
import { ConfigError, loadConfig, type Config, type Role } from '../config.js';
import { createLog, type Log } from '../log.js';

export interface RoleContext {
  config: Readonly<Config>;
  log: Log;
  /** Registers cleanup, run in reverse order on SIGINT/SIGTERM. */
  onShutdown(fn: () => Promise<void> | void): void;
}

export async function runRole(role: Role, main: (ctx: RoleContext) => Promise<void>): Promise<void> {
  let config: Readonly<Config>;
  try {
    config = loadConfig(process.env, role);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`onair ${role}: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLog({ level: config.logLevel, name: role, base: { instance: config.instanceId } });
  const cleanups: (() => Promise<void> | void)[] = [];
  let stopping = false;

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `Stopping the ${role} role.`);
    const force = setTimeout(() => {
      log.error('Shutdown took too long; exiting now.');
      process.exit(1);
    }, 20_000);
    force.unref();
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        log.warn({ err }, 'A shutdown step failed.');
      }
    }
    log.info(`The ${role} role stopped.`);
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason }, 'Unhandled promise rejection.');
  });
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'Uncaught exception; the process exits and its supervisor restarts it.');
    process.exit(1);
  });

  try {
    await main({ config, log, onShutdown: (fn) => cleanups.push(fn) });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    log.fatal({ err: why }, `The ${role} role could not start: ${why}`);
    process.exit(1);
  }
}
