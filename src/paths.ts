// Where the shipped files live, whatever the working directory (this file compiles to dist/paths.js).
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const APP_ROOT = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
export const MIGRATIONS_DIR = path.join(APP_ROOT, 'migrations');
export const PROFILES_DIR = path.join(APP_ROOT, 'ffmpeg-profiles');
export const NGINX_DIR = path.join(APP_ROOT, 'nginx');
/** The web face, built by Vite from web/ into dist/site (npm start and npm test build it). */
export const WEB_DIR = path.join(APP_ROOT, 'dist', 'site');
