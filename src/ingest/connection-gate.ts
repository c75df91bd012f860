// Caps on RTMP connections, counted at accept: in all and per remote address, and the same for
// connections that have not published yet (or, for an internal pull, not been allowed to play).
// A refused connection is destroyed before node-media-server sees it.

export interface ConnectionCaps {
  maxConnections: number;
  maxConnectionsPerIp: number;
  maxPending: number;
  maxPendingPerIp: number;
}

/** Which cap refused a connection (a metric label and a log field). */
export type CapName = 'connections' | 'connections_per_ip' | 'pending' | 'pending_per_ip';
export const CAP_NAMES: readonly CapName[] = ['connections', 'connections_per_ip', 'pending', 'pending_per_ip'];

/** The setting behind each cap, and what it means, for the operator reading the log. */
export const CAP_SETTINGS: Record<CapName, { name: string; key: keyof ConnectionCaps; what: string }> = {
  connections: { name: 'RTMP_MAX_CONNECTIONS', key: 'maxConnections', what: 'the ingest has as many RTMP connections open as it takes' },
  connections_per_ip: { name: 'RTMP_MAX_CONNECTIONS_PER_IP', key: 'maxConnectionsPerIp', what: 'that address has as many connections open as one address may' },
  pending: { name: 'RTMP_MAX_PENDING', key: 'maxPending', what: 'as many connections as the ingest takes have not published yet' },
  pending_per_ip: { name: 'RTMP_MAX_PENDING_PER_IP', key: 'maxPendingPerIp', what: 'as many connections from that address as one address may have are not publishing yet' },
};

/** One admitted connection. Both methods may be called any number of times. */
export interface Ticket {
  /** The connection published (or an internal pull was allowed): it no longer counts as pending. */
  settle(): void;
  /** The connection closed. */
  release(): void;
}

export interface ConnectionGate {
  admit(ip: string): Ticket | { refused: CapName };
  counts(): { connections: number; pending: number; addresses: number };
}

export function createConnectionGate(caps: ConnectionCaps): ConnectionGate {
  // per address, only while it has a connection open: bounded by the open connections
  const byIp = new Map<string, { open: number; pending: number }>();
  let open = 0;
  let pending = 0;
  return {
    admit(ip) {
      const mine = byIp.get(ip) ?? { open: 0, pending: 0 };
      if (open >= caps.maxConnections) return { refused: 'connections' };
      if (mine.open >= caps.maxConnectionsPerIp) return { refused: 'connections_per_ip' };
      if (pending >= caps.maxPending) return { refused: 'pending' };
      if (mine.pending >= caps.maxPendingPerIp) return { refused: 'pending_per_ip' };
      byIp.set(ip, mine);
      open += 1;
      pending += 1;
      mine.open += 1;
      mine.pending += 1;
      let isPending = true;
      let isOpen = true;
      const settle = () => {
        if (!isPending) return;
        isPending = false;
        pending -= 1;
        mine.pending -= 1;
      };
      return {
        settle,
        release() {
          if (!isOpen) return;
          settle();
          isOpen = false;
          open -= 1;
          mine.open -= 1;
          if (mine.open === 0) byIp.delete(ip);
        },
      };
    },
    counts: () => ({ connections: open, pending, addresses: byIp.size }),
  };
}
