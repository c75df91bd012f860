// Who is asking: the one type REST, WebSocket and every service use for "the signed-in user".
// Built once per request (http/auth.ts from the token, realtime/server.ts at the upgrade); what
// the services decide from it (role, resource facts, bans, mutes, limits) lives in access.ts and
// the policy service.
import type { Role } from './access.js';

export interface Principal {
  id: string;
  /** The user's current role (read per request, so a role change applies at once). */
  role: Role;
  /** The device session the token belongs to. */
  deviceId: string;
  /** When the token stops being valid (ms since the epoch); open WebSockets close then. */
  expiresAt: number;
}
