// How a user looks over the API; the password hash never leaves the repo layer.
import { z } from 'zod';
import { ROLES } from '../access.js';
import { isoDate } from '../http/schemas.js';
import type { User } from './repo.js';

export const roleSchema = z.enum(ROLES, { message: `role must be one of ${ROLES.join(', ')}` });
export const emailSchema = z.email({ message: 'email must be an email address' }).max(320, 'email is at most 320 characters');
export const passwordSchema = z.string().min(8, 'password must be at least 8 characters').max(1024, 'password is at most 1024 characters');
export const nameSchema = z
  .string()
  .trim()
  .min(1, 'name is required')
  .max(200, 'name is at most 200 characters')
  .refine((s) => !s.includes('\u0000'), 'name must not contain NUL characters'); // Postgres text cannot hold them

export const userSchema = z.object({ id: z.uuid(), email: z.string(), name: z.string(), role: roleSchema, createdAt: isoDate });

export const userView = (u: User) => ({ id: u.id, email: u.email, name: u.name, role: u.role, createdAt: u.createdAt.toISOString() });
