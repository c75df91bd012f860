// Small pieces the events and sessions services share: who asks, pages, field-level 400s.
import { roleMay } from '../access.js';
import type { Principal } from '../principal.js';
import { badRequest } from '../errors.js';
import type { VisibilityScope } from './types.js';

export interface Page {
  limit: number;
  after?: { at: Date; id: string };
}

/** Staff (events.seeAll) see drafts and private events and may watch without joining. */
export const callerOf = (asker: Pick<Principal, 'id' | 'role'>): VisibilityScope => ({ id: asker.id, staff: roleMay(asker.role, 'events.seeAll') });

/** A 400 naming one body field, as request validation answers. */
export function fieldError(field: string, message: string) {
  return badRequest('The request body is not valid.', { errors: [{ field: `body.${field}`, message }] });
}

export const isFkViolation = (err: unknown) => (err as { code?: string }).code === '23503';
