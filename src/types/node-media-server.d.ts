// node-media-server 4.x ships no types (@types/node-media-server describes v2). Only what the
// ingest adapter touches is declared; it is the one file that imports these modules.
declare module 'node-media-server' {
  import type { EventEmitter } from 'node:events';
  import type { Server as NetServer } from 'node:net';
  import type { Server as TlsServer } from 'node:tls';
  class NodeMediaServer {
    constructor(config: Record<string, unknown>);
    rtmpServer: { run(): void; stop(): void; handleRequest(socket: import('node:net').Socket): void; tcpServer?: NetServer; tlsServer?: TlsServer };
    on(event: string, listener: (session: any) => void): void;
    stop(): Promise<void>;
  }
  export = NodeMediaServer;
  export type { EventEmitter };
}
declare module 'node-media-server/src/core/context.js' {
  const Context: { broadcasts: Map<string, any>; sessions: Map<string, any> };
  export = Context;
}
declare module 'node-media-server/src/core/logger.js' {
  const logger: { level: string; log(message: string, level?: string): void };
  export = logger;
}
declare module 'node-media-server/src/protocol/sps_info.js' {
  export function parseH264Sps(sps: Buffer): { width: number; height: number } | null;
}

declare module 'node-media-server/src/core/rate_sampler.js' {
  export const rateSampler: { stop(): void };
}
