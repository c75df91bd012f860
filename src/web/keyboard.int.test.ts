// The web face with a keyboard only, in Debian's Chromium: a "Skip to content" link comes first,
// sign-in works with Tab, typing and Enter, a navigation moves the focus to the new page, and on
// the watch page every control Tab reaches has an accessible name and a visible focus ring —
// voting, asking and chatting without a mouse.
import t from 'tap';
import type { Page } from 'playwright-core';
import { launchChromium } from '../testing/browser.js';
import { startStack } from '../testing/stack.js';

const stack = await startStack(t);
const browser = await launchChromium(t);

interface Focused {
  tag: string;
  id: string;
  /** The accessible name as a screen reader would find it: aria-label, the label, or the text. */
  name: string;
  /** The focus ring as drawn. */
  outline: string;
}

const focused = (page: Page): Promise<Focused> =>
  page.evaluate(() => {
    const el = document.activeElement as HTMLElement;
    const labels = (el as HTMLInputElement).labels;
    const label = labels && labels.length > 0 ? labels[0]!.textContent : '';
    const s = getComputedStyle(el);
    return {
      tag: el.tagName.toLowerCase(),
      id: el.id,
      name: (el.getAttribute('aria-label') || label || el.textContent || el.getAttribute('title') || '').trim(),
      outline: s.outlineStyle === 'none' ? 'none' : `${s.outlineWidth} ${s.outlineStyle}`,
    };
  });

/** Presses Tab until the focus is on a control whose name matches; every stop on the way is kept. */
async function tabTo(page: Page, name: RegExp, seen: Focused[] = [], max = 80): Promise<Focused> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    seen.push(f);
    if (name.test(f.name)) return f;
  }
  throw new Error(`Tab never reached ${name}; stops: ${seen.map((f) => `${f.tag} "${f.name}"`).join(', ')}`);
}

t.test('keyboard only: skip link, sign in, voting, asking and chatting on the watch page', async (t) => {
  const s = await stack.createStream('keyboard');
  const { event, session } = await stack.liveSessionOn(s.id, 'Keyboard day');
  const u = await stack.user('Kim Keys');
  t.equal((await stack.api('POST', `/events/${event.id}/join`, undefined, u.token)).status, 201);
  t.equal((await stack.api('POST', '/polls', { sessionId: session.id, question: 'Tea or coffee?', options: ['Tea', 'Coffee'] }, stack.token)).status, 201);

  const page = await browser.newPage();
  t.teardown(() => page.close());
  await page.goto(`${stack.base}/signin?next=${encodeURIComponent(`/watch/${session.id}`)}`);
  await page.getByLabel('E-mail').waitFor();

  await page.keyboard.press('Tab');
  const skip = await focused(page);
  t.match(skip, { tag: 'a', name: 'Skip to content' }, 'the first Tab stop is the skip link');
  t.not(skip.outline, 'none', 'and it shows where the focus is');
  t.ok(await page.getByRole('link', { name: 'Skip to content' }).isVisible(), 'visible once focused');
  await page.keyboard.press('Enter');
  t.equal((await focused(page)).id, 'content', 'Enter on it moves the focus past the header');
  t.equal(page.url().split('#')[0], `${stack.base}/signin?next=${encodeURIComponent(`/watch/${session.id}`)}`, 'and stays on the page');

  t.match(await tabTo(page, /^E-mail/), { tag: 'input' });
  await page.keyboard.type(u.email);
  await page.keyboard.press('Tab');
  t.match(await focused(page), { tag: 'input', name: /^Password/ }, 'Tab goes from E-mail to Password');
  await page.keyboard.type('user-password');
  await page.keyboard.press('Enter');
  await page.waitForURL(`${stack.base}/watch/${session.id}`);
  await page.getByRole('article', { name: 'Tea or coffee?' }).waitFor();
  t.equal((await focused(page)).id, 'content', 'after the navigation the focus is at the top of the new page');

  const stops: Focused[] = [];
  const tea = await tabTo(page, /^Tea$/, stops);
  t.equal(tea.tag, 'button');
  await page.keyboard.press('Space');
  await page.getByLabel('Tea: 1 vote · 100 %').waitFor();
  t.equal(await page.getByRole('button', { name: 'Tea' }).getAttribute('aria-pressed'), 'true', 'Space voted, and the choice is marked');

  t.match(await tabTo(page, /^Question$/, stops), { tag: 'input' }, 'the question box is reachable');
  await page.keyboard.type('Is there a recording?');
  t.match(await tabTo(page, /^Ask$/, stops), { tag: 'button' });
  await page.keyboard.press('Enter');
  await page.getByRole('list', { name: 'Questions asked' }).getByRole('listitem', { name: 'Is there a recording?' }).waitFor();
  t.pass('Enter on "Ask" asks');

  t.match(await tabTo(page, /^Message$/, stops), { tag: 'input' });
  await page.keyboard.type('Hello from the keyboard');
  await page.keyboard.press('Enter');
  await page.getByRole('list', { name: 'Messages' }).getByText('Hello from the keyboard').waitFor();
  t.match(await focused(page), { name: /^Message$/ }, 'Enter sends, and the focus stays in the box for the next message');
  t.equal(await page.getByLabel('Message', { exact: true }).inputValue(), '', 'the box is emptied');

  // past the last control the focus leaves the page (the browser's own controls: the body here),
  // and the next Tab starts again at the skip link — a cycle, no trap
  stops.forEach((f, i) => {
    if (f.tag === 'body') return void t.match(stops[i + 1], { name: 'Skip to content' }, 'the page body only between the last control and the first');
    t.ok(f.name.length > 0, `every Tab stop has a name (${f.tag} "${f.name}")`);
    t.not(f.outline, 'none', `and a visible focus ring (${f.tag} "${f.name}")`);
  });
  t.ok(stops.some((f) => f.tag === 'body'), 'the whole page was tabbed through once');
});

t.test('keyboard only in the console: the navigation links move the focus to the new page', async (t) => {
  const page = await browser.newPage();
  t.teardown(() => page.close());
  await page.goto(`${stack.base}/signin?next=%2Fconsole`);
  await page.getByLabel('E-mail').fill('admin@test.local');
  await page.getByLabel('Password').fill('admin-password');
  await page.getByLabel('Password').press('Enter');
  await page.waitForURL(`${stack.base}/console`);
  await page.getByRole('navigation', { name: 'Console' }).waitFor();
  const events = await tabTo(page, /^Events$/);
  t.equal(events.tag, 'a');
  await page.keyboard.press('Enter');
  await page.waitForURL(`${stack.base}/console/events`);
  t.equal((await focused(page)).id, 'content', 'the focus moved to the events page');
  const title = await tabTo(page, /^Event title$/);
  t.equal(title.tag, 'input', 'the first form field of the page is a few Tabs away');
});
