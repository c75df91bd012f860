// The one authorisation table: which role may do what. HTTP routes (and, later, WebSocket
// actions) name an action; nothing else decides access by role.
import { forbidden } from './errors.js';

export const ROLES = ['admin', 'moderator', 'speaker', 'attendee'] as const;
export type Role = (typeof ROLES)[number];

/**
 * `anyone`: no sign-in needed. `roles`: the roles allowed outright ('signed-in' = every role).
 * `also`: who else may, decided per request by the service from the resource
 * ('self' = the user the request is about, 'author' = who wrote it, 'eventSpeaker' = a speaker of the
 * event's sessions, 'sessionSpeaker' = a speaker of that session).
 */
export type Rule =
  | { readonly anyone: true }
  | { readonly roles: readonly Role[] | 'signed-in'; readonly also?: Also };

/** Who else may, decided from the resource: the user it is about, its author, a speaker of its event. */
export type Also = 'self' | 'author' | 'eventSpeaker' | 'sessionSpeaker';

const STAFF = ['admin', 'moderator'] as const;

export const ACCESS = {
  'health': { anyone: true },
  'docs': { anyone: true },

  'auth.register': { anyone: true },
  'auth.login': { anyone: true },
  'auth.setPassword': { anyone: true },
  'auth.logout': { roles: 'signed-in' },
  'auth.me': { roles: 'signed-in' },
  'auth.devices.list': { roles: 'signed-in' },
  'auth.devices.revoke': { roles: 'signed-in' }, // own devices only: someone else's is "not found"
  'realtime.ticket': { roles: 'signed-in' }, // a single-use ticket to open /ws with (browsers)

  'users.list': { roles: ['admin'] },
  'users.get': { roles: STAFF, also: 'self' },
  'users.update': { roles: ['admin'], also: 'self' },
  'users.setRole': { roles: ['admin'] },
  'users.import': { roles: ['admin'] },
  'users.passwordToken': { roles: ['admin'] },

  'events.list': { roles: 'signed-in' }, // what each role sees is filtered (drafts, private)
  'events.get': { roles: 'signed-in' },
  'events.create': { roles: ['admin'] },
  'events.update': { roles: ['admin'] },
  'events.delete': { roles: ['admin'] },
  'events.join': { roles: 'signed-in' },
  'events.leave': { roles: 'signed-in' },
  'events.attendees.list': { roles: STAFF, also: 'eventSpeaker' },
  'events.attendees.add': { roles: ['admin'] },
  'events.attendees.remove': { roles: ['admin'] },
  /** Seeing drafts and private events without being an attendee, and watching without joining. */
  'events.seeAll': { roles: STAFF },

  'sessions.list': { roles: 'signed-in' },
  'sessions.get': { roles: 'signed-in' },
  'sessions.create': { roles: ['admin'] },
  'sessions.update': { roles: ['admin'] },
  'sessions.delete': { roles: ['admin'] },
  // the sessions the caller speaks at (each one's tools are the speaker's: sessions.stream…)
  'sessions.mine': { roles: 'signed-in' },
  // a session's broadcast, for its speakers (who see no stream ids otherwise) and organisers
  'sessions.stream': { roles: STAFF, also: 'sessionSpeaker' },
  'sessions.stream.regenerateKey': { roles: ['admin'], also: 'sessionSpeaker' },
  // the status of the session's stream's relay destinations (never their keys)
  'sessions.stream.destinations': { roles: STAFF, also: 'sessionSpeaker' },

  // Live engagement. Who may enter a session's room follows the event's visibility (service);
  // sending chat follows the session's chat settings, mutes and bans (service).
  'chat.read': { roles: 'signed-in' },
  'chat.send': { roles: 'signed-in' },
  'chat.pin': { roles: STAFF },
  'chat.delete': { roles: STAFF, also: 'author' },
  'chat.settings': { roles: STAFF },
  'chat.moderate': { roles: STAFF }, // mute, ban, and lifting them
  /** Chatting past slow mode, attendees-only and disabled chat. */
  'chat.bypassLimits': { roles: STAFF },
  'polls.read': { roles: 'signed-in' },
  'polls.create': { roles: STAFF, also: 'eventSpeaker' },
  'polls.vote': { roles: 'signed-in' },
  'polls.close': { roles: STAFF, also: 'eventSpeaker' },
  'questions.read': { roles: 'signed-in' },
  'questions.ask': { roles: 'signed-in' },
  'questions.upvote': { roles: 'signed-in' },
  'questions.answer': { roles: STAFF, also: 'eventSpeaker' },

  // Viewer analytics: organisers (staff) and the event's speakers see an event's or session's figures.
  'analytics.read': { roles: STAFF, also: 'eventSpeaker' },
  'analytics.heartbeat': { roles: 'signed-in' }, // counted only for who may watch (service)
  'analytics.report': { roles: ['admin'] },

  'streams.list': { roles: STAFF },
  'streams.get': { roles: STAFF },
  'streams.publishSessions': { roles: STAFF },
  'streams.create': { roles: ['admin'] },
  'streams.regenerateKey': { roles: ['admin'] },
  'streams.update': { roles: ['admin'] },
  'streams.stop': { roles: ['admin'] },
  'streams.delete': { roles: ['admin'] },
  // relay destinations (src/relays/): staff read their status, admins manage them
  'streams.destinations.list': { roles: STAFF },
  'streams.destinations.create': { roles: ['admin'] },
  'streams.destinations.update': { roles: ['admin'] },
  'streams.destinations.delete': { roles: ['admin'] },

  // Recordings (src/recordings/): a stream's, for admins; a session's, for whoever may watch it
  // (staff, its event's speakers and joined attendees who are not banned: decided by the service)
  'streams.recordings': { roles: ['admin'] },
  'sessions.recordings': { roles: 'signed-in' },
  'recordings.delete': { roles: ['admin'] },

  // Uploaded branding images (src/uploads/): stored on the appliance and served by nginx
  'uploads.image': { roles: ['admin'] },
} as const satisfies Record<string, Rule>;

export type Action = keyof typeof ACCESS;

export function isPublic(action: Action): boolean {
  return 'anyone' in ACCESS[action];
}

/** Whether the role alone allows the action (without looking at the resource). */
export function roleMay(role: Role, action: Action): boolean {
  const rule: Rule = ACCESS[action];
  if ('anyone' in rule) return true;
  return rule.roles === 'signed-in' || rule.roles.includes(role);
}

/** The resource-dependent part of a rule, when the role alone does not allow the action. */
export function alsoRule(action: Action): Also | undefined {
  const rule: Rule = ACCESS[action];
  return 'anyone' in rule ? undefined : rule.also;
}

/** Throws 403 unless the role, or the resource-dependent part of the rule, allows the action. */
export function assertMay(
  user: { role: Role },
  action: Action,
  facts: { self?: boolean; author?: boolean; eventSpeaker?: boolean; sessionSpeaker?: boolean } = {},
): void {
  if (roleMay(user.role, action)) return;
  const also = alsoRule(action);
  if (also && facts[also]) return;
  throw forbidden();
}

export function describeRule(action: Action): string {
  const rule: Rule = ACCESS[action];
  if ('anyone' in rule) return 'No sign-in needed.';
  const who = rule.roles === 'signed-in' ? 'any signed-in user' : rule.roles.join(', ');
  const also = rule.also ? { self: ' or the user themself', author: ' or its author', eventSpeaker: " or a speaker of the event's sessions", sessionSpeaker: ' or a speaker of the session' }[rule.also] : '';
  return `Allowed: ${who}${also}.`;
}
