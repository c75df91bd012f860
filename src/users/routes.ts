// User administration endpoints: list, get, update, role, bulk import.
import type { AuthService } from '../auth/service.js';
import type { Endpoint } from '../http/endpoint.js';
import type { UsersService } from './service.js';

export function userEndpoints(_deps: { users: UsersService; auth: AuthService }): Endpoint[] {
  return [];
}
