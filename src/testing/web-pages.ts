// Small helpers for browser tests of the web face (playwright-core on Debian's Chromium): signing
// in through the sign-in page, local times as a datetime-local field takes them, screenshots as
// test artefacts.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { testEnv } from './harness.js';

/** Signs in through the page's form and waits to land on `next` (a path of `base`). */
export async function signIn(page: Page, o: { base: string; email: string; password: string; next: string }): Promise<void> {
  await page.goto(`${o.base}/signin?next=${encodeURIComponent(o.next)}`);
  await page.getByLabel('E-mail').fill(o.email);
  await page.getByLabel('Password').fill(o.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${o.base}${o.next}`);
}

/** An instant as a datetime-local field shows it in the browser's time zone (the test's: one machine). */
export function localTime(d: Date): string {
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/** Screenshots are test artefacts: <test dir>/artifacts/screenshots (README "Tests"). */
export async function screenshot(page: Page, o: { name: string; width: number; height: number }): Promise<string> {
  const dir = path.join(testEnv().workDir, '..', 'artifacts', 'screenshots');
  mkdirSync(dir, { recursive: true });
  await page.setViewportSize({ width: o.width, height: o.height });
  const file = path.join(dir, `${o.name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
