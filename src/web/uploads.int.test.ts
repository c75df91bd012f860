// Branding images in the browser: an admin uploads a logo and a banner in the console's branding
// fields (new event, then the event's page), a refused file is told in words, and the events
// list, the event page and the watch page show the uploaded images — served by the appliance
// itself, nothing from elsewhere (Debian's Chromium, the real nginx in front of a real API node).
import path from 'node:path';
import t from 'tap';
import type { Locator, Page } from 'playwright-core';
import { launchChromium } from '../testing/browser.js';
import { NO_RATE_LIMITS, startTestApi } from '../testing/api.js';
import { startTestNginx, testDir, waitFor } from '../testing/harness.js';
import { testImage } from '../testing/images.js';
import { screenshot as shot, signIn as signInPage } from '../testing/web-pages.js';

const api = await startTestApi(t, { env: NO_RATE_LIMITS });
const nginxDir = testDir('web-uploads');
const httpPort = await startTestNginx(t, { dataDir: nginxDir, mediaDir: path.join(nginxDir, 'media'), apiPort: Number(new URL(api.base).port), uploadsDir: api.config.uploadsDir });
const base = `http://127.0.0.1:${httpPort}`;
const admin = await api.user('admin');
const browser = await launchChromium(t);

// the shared page helpers (src/testing/web-pages.ts) under this file's short names
const screenshot = (page: Page, name: string, width: number, height: number) => shot(page, { name, width, height });
const signIn = (page: Page, email: string, password: string, next: string) => signInPage(page, { base: base, email, password, next });

/** Waits until the image has loaded and decoded (naturalWidth > 0); answers its source and width. */
async function shown(img: Locator, what: string): Promise<{ src: string; naturalWidth: number }> {
  return waitFor(
    () => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth > 0 && { src: new URL(el.src).pathname, naturalWidth: el.naturalWidth }),
    { what, timeoutMs: 15_000, intervalMs: 200 },
  );
}

t.test('an admin uploads a logo and a banner in the console; a refused file says why; the pages show them', async (t) => {
  const page = await browser.newPage();
  t.teardown(() => page.close());
  const external: string[] = [];
  page.on('request', (r) => void (new URL(r.url()).origin !== base && !r.url().startsWith('data:') && !r.url().startsWith('blob:') && external.push(r.url())));
  const [logo, banner, svg, notes, logo2] = [
    await testImage('png', { width: 120, height: 60 }),
    await testImage('jpeg', { width: 1200, height: 240 }),
    Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'),
    Buffer.from('meeting notes, not a picture'),
    await testImage('webp', { width: 80, height: 80, seed: 4 }),
  ];

  await signIn(page, admin.email, admin.password, '/console/events');
  const form = page.getByRole('form', { name: 'New event' });
  await form.getByLabel('Event title').fill('Uploaded conf');
  const local = (d: Date) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  const start = new Date(Date.now() - 30 * 60_000);
  await form.getByLabel('Starts').fill(local(start));
  await form.getByLabel('Ends').fill(local(new Date(start.getTime() + 4 * 3_600_000)));

  // refused files: told in words, in an alert, and nothing is kept
  await form.getByLabel('Banner image').setInputFiles({ name: 'banner.svg', mimeType: 'image/svg+xml', buffer: svg });
  const alert = form.getByRole('alert');
  await alert.getByText(/banner\.svg/).waitFor();
  t.match(await alert.textContent(), /banner\.svg: Send a PNG, JPEG, WebP or GIF image \(SVG is not taken: it can carry script\)/, 'SVG refused with the reason');
  await form.getByLabel('Logo image').setInputFiles({ name: 'logo.png', mimeType: 'image/png', buffer: notes });
  await alert.getByText(/logo\.png/).waitFor();
  t.match(await alert.textContent(), /logo\.png: This file is not a PNG, JPEG, WebP or GIF image/, 'a renamed text file refused with the reason');
  t.equal(await page.getByRole('img', { name: 'Logo preview' }).count(), 0, 'no preview for a refused file');

  // accepted: uploaded on choosing, shown in the preview at once
  await form.getByLabel('Logo image').setInputFiles({ name: 'logo.png', mimeType: 'image/png', buffer: logo });
  const logoPreview = await shown(page.getByRole('img', { name: 'Logo preview' }), 'the logo preview');
  t.match(logoPreview, { src: /^\/uploads\/[0-9a-f]{64}\.png$/, naturalWidth: 120 });
  t.equal(await form.getByRole('alert').count(), 0, 'the earlier refusal is cleared');
  await form.getByLabel('Banner image').setInputFiles({ name: 'banner.jpg', mimeType: 'image/jpeg', buffer: banner });
  const bannerPreview = await shown(page.getByRole('img', { name: 'Banner preview' }), 'the banner preview');
  t.match(bannerPreview, { src: /^\/uploads\/[0-9a-f]{64}\.jpg$/, naturalWidth: 1200 });
  t.comment(`screenshot: ${await screenshot(page, 'console-branding-uploads', 1280, 900)}`);
  await form.getByRole('button', { name: 'Create event' }).click();
  await page.getByRole('heading', { name: 'Uploaded conf' }).waitFor();
  const eventId = new URL(page.url()).pathname.split('/').pop()!;
  const ev = (await api.call('GET', `/events/${eventId}`, { token: admin.token })).body;
  t.same([ev.branding.logoUrl, ev.branding.bannerUrl], [logoPreview.src, bannerPreview.src], 'the event keeps the uploaded URLs');

  // the event's page in the console: the same fields edit it (a new logo, saved)
  const branding = page.getByRole('region', { name: 'Branding' });
  t.match(await shown(branding.getByRole('img', { name: 'Logo preview' }), 'the saved logo'), { src: logoPreview.src });
  await branding.getByLabel('Logo image').setInputFiles({ name: 'square.webp', mimeType: 'image/webp', buffer: logo2 });
  const newLogo = await shown(branding.getByRole('img', { name: 'Logo preview' }).and(page.locator('img[src$=".webp"]')), 'the new logo preview');
  await branding.getByRole('button', { name: 'Save branding' }).click();
  await waitFor(async () => (await api.call('GET', `/events/${eventId}`, { token: admin.token })).body.branding.logoUrl === newLogo.src, { what: 'the new logo saved' });
  t.pass('a new logo is uploaded and saved from the event’s page; the banner stays');
  t.equal((await api.call('GET', `/events/${eventId}`, { token: admin.token })).body.branding.bannerUrl, bannerPreview.src);

  // what attendees see: the events list, the event page, the watch page
  await api.call('PUT', `/events/${eventId}`, { token: admin.token, body: { status: 'published' } });
  const at = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();
  const session = (await api.call('POST', `/events/${eventId}/sessions`, { token: admin.token, body: { title: 'Opening', startsAt: at(-0.25), endsAt: at(1) } })).body;
  await page.goto(`${base}/events`);
  t.match(await shown(page.getByRole('region', { name: 'Live now' }).getByRole('img', { name: 'Uploaded conf logo' }), 'the logo in the events list'), { src: newLogo.src, naturalWidth: 80 });
  await page.goto(`${base}/events/${eventId}`);
  t.match(await shown(page.getByRole('img', { name: 'Uploaded conf logo' }), 'the logo on the event page'), { src: newLogo.src });
  t.match(await shown(page.locator('img.banner'), 'the banner on the event page'), { src: bannerPreview.src, naturalWidth: 1200 });
  await page.goto(`${base}/watch/${session.id}`);
  await page.getByRole('heading', { name: 'Opening' }).waitFor();
  t.match(await shown(page.getByRole('img', { name: 'Uploaded conf logo' }), 'the logo on the watch page'), { src: newLogo.src });
  t.match(await shown(page.locator('img.banner'), 'the banner on the watch page'), { src: bannerPreview.src });
  t.comment(`screenshot: ${await screenshot(page, 'watch-branding-uploads', 1280, 800)}`);
  t.same(external, [], 'nothing was fetched from another origin');
});
