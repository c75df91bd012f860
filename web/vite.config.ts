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
    modulePreload: { polyfill: false }, // every browser hls.js plays in knows modulepreload
    rollupOptions: {
      input: { index: here('index.html'), console: here('console.html') },
      // what both pages share gets a name that says so (rollup would name it after one of its modules)
      output: {
        manualChunks(id) {
          if (id.includes('/node_modules/preact/')) return 'preact';
          if (/\/web\/src\/(api|session|router|colors|urls|styles)\./.test(id)) return 'shared';
          return undefined;
        },
      },
    },
  },
});
