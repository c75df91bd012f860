// The web face's build: two pages (the attendee app and the organiser console) from one source
// tree, each with its own entry so the watch page never loads console code. Hashed file names
// under /assets/ (nginx caches them for good); the HTML shells are never cached.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/',
  publicDir: false,
  build: {
    outDir: here('../dist/site'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
    rollupOptions: {
      input: { index: here('index.html'), console: here('console.html') },
    },
  },
});
