// Work for a new place, in real Chromium: with `work_for_all` on, every fresh citizen's page
// finds the count the gate asks, in a Web Worker (or on the page where none starts), sends it
// with the next poll and is given a place. The solve times the pages measured are printed; only
// behaviour is asserted. The project's stand-in for a mid-range phone is Chromium under 4× CPU
// throttling, which slows the page's main thread only (asked of a worker, the DevTools protocol
// answers "Operation is only supported for pages, not workers"): so the throttled run counts on
// the page, with Web Workers taken away, and the unthrottled runs count both ways, to show what
// the place of counting alone costs. Also: the fallbacks (nothing found, a new challenge
// mid-search), the page while it works (screenshots, axe), and the no-JavaScript frame's words.
import AxeBuilder from '@axe-core/playwright';
import { test, expect } from './fixtures.mjs';
import { configure, QUIET, shoot, STATUS } from './support.mjs';

const ANSWER = /^\d+\.\d+\.\d+$/;
const isStatus = (r) => new URL(r.url()).pathname === STATUS;
// How many fresh citizens each measured run has (more for a calibration run).
const CITIZENS = Number(process.env.EDGEGATE_WORK_CITIZENS) || 10;

test.beforeEach(async ({ admin, baseURL }) => { await configure(admin, baseURL, { ...QUIET, work_for_all: true }); });
test.afterEach(async ({ admin }) => { await admin.config({ work_for_all: false }); });

/**
 * A fresh citizen (own context, no cookies) in `locale`, CPU slowed `throttle` times. Records
 * the `Edgegate-Work` header of every status poll in `sent` (null for none), and whether the
 * page ever showed the work message, in `window.seen`, by a MutationObserver that cannot miss
 * a state however briefly it lasts.
 */
async function citizen(browser, baseURL, { throttle = 1, locale = 'en-US', workers = true } = {}) {
  const context = await browser.newContext({ baseURL, locale });
  await context.addInitScript(() => {
    window.seen = { work: false, said: '' };
    new MutationObserver(() => {
      const room = document.getElementById('room'), box = document.getElementById('work');
      if (room && box && room.getAttribute('data-work') === 'solving' && !box.hidden) {
        window.seen.work = true;
        window.seen.said = document.getElementById('live').textContent;
      }
    }).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
  });
  if (!workers) await context.addInitScript(() => { window.Worker = function () { throw new Error('no workers here'); }; });
  const page = await context.newPage();
  if (throttle !== 1) {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: throttle });
  }
  const sent = [];
  page.on('request', (r) => { if (isStatus(r)) sent.push(r.headers()['edgegate-work'] ?? null); });
  return { context, page, sent };
}

/** Waits for the page's place, checks what it did on the way, and answers the solve's ms. */
async function placed({ page, sent }) {
  await expect(page.locator('#position')).toHaveText(/^\d[\d,]*(번째)?$/);
  await expect(page.locator('#work')).toBeHidden();
  await expect(page.locator('#room')).toHaveAttribute('data-work', '');
  expect(sent[0], 'the first poll carries no answer').toBeNull();
  expect(sent.filter((h) => h !== null), 'one answer sent').toEqual([expect.stringMatching(ANSWER)]);
  const seen = await page.evaluate(() => window.seen);
  expect(seen.work, 'the work message was shown').toBe(true);
  expect(seen.said).toMatch(/short check|확인 계산/);
  await expect(page.locator('#live')).not.toHaveText(seen.said);
  return Number(await page.locator('#room').getAttribute('data-work-ms'));
}

function figures(label, ms) {
  const sorted = [...ms].sort((a, b) => a - b);
  const rank = (p) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
  const line = `${label}: ${sorted.length} citizens, solve ms min ${sorted[0]} median ${rank(0.5)} ` +
    `p95 ${rank(0.95)} max ${sorted[sorted.length - 1]} (all: ${ms.join(' ')})`;
  console.log(line);
  test.info().annotations.push({ type: 'solve times', description: line });
}

for (const [throttle, by] of [[4, 'page'], [1, 'worker'], [1, 'page']]) {
  const how = by === 'worker' ? 'in a Web Worker' : 'on the page (no Web Worker starts), in slices';
  test(`fresh citizens each solve the work ${how} and get a place, CPU ${throttle}× slower`, async ({ browser, baseURL }) => {
    test.setTimeout(60_000 + CITIZENS * 20_000);
    const ms = [];
    // One after another: citizens solving side by side would measure the machine's two cores.
    for (let i = 0; i < CITIZENS; i++) {
      const one = await citizen(browser, baseURL, { throttle, workers: by === 'worker' });
      await one.page.goto('/');
      ms.push(await placed(one));
      expect(await one.page.locator('#room').getAttribute('data-work-by')).toBe(by);
      await one.context.close();
    }
    figures(`counted ${by === 'worker' ? 'in a worker' : 'on the page'}, CPU throttling ${throttle}×`, ms);
  });
}

/** Serves the first status answer that carries work changed by `spoil`, the rest as they are. */
async function spoilFirstChallenge(page, spoil) {
  let spoiled = null;
  await page.route('**/queue/status*', async (route) => {
    const response = await route.fetch();
    const body = await response.json();
    if (body.work && !spoiled) {
      spoiled = { ...body.work };
      spoil(body.work);
    }
    await route.fulfill({ response, json: body });
  });
}

test('a challenge with no answer up to its most: the page asks again without one, then solves', async ({ browser, baseURL }) => {
  const one = await citizen(browser, baseURL);
  // A target no count below 1000 hashes to.
  await spoilFirstChallenge(one.page, (w) => { w.target = '00'.repeat(32); w.most = 999; });
  await one.page.goto('/');
  await placed(one);
  // Asked, searched in vain, asked again bare, solved the real one, answered.
  expect(one.sent.slice(0, 2)).toEqual([null, null]);
  await one.context.close();
});

test('a new challenge while one is being solved: the old is dropped and the new one solved', async ({ browser, baseURL }) => {
  const one = await citizen(browser, baseURL);
  // The first challenge would take hours: four billion counts and no answer.
  await spoilFirstChallenge(one.page, (w) => { w.target = '00'.repeat(32); w.most = 0xfffffffe; });
  await one.page.goto('/');
  await expect(one.page.locator('#room')).toHaveAttribute('data-work', 'solving');
  // The tab shown again polls at once, and the gate's real challenge comes back.
  await one.page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  await placed(one);
  expect(Number(await one.page.locator('#room').getAttribute('data-work-ms'))).toBeLessThan(60_000);
  await one.context.close();
});

for (const locale of ['ko-KR', 'en-US']) {
  test(`screenshot: working for a place, ${locale} (and no axe violations)`, async ({ browser, baseURL }) => {
    const one = await citizen(browser, baseURL, { locale });
    // The poll that brings the count is held until the picture is taken: the work message
    // stays up until its answer comes.
    let release;
    const held = new Promise((r) => { release = r; });
    let answered;
    const answering = new Promise((r) => { answered = r; });
    await one.page.route('**/queue/status*', async (route) => {
      if (route.request().headers()['edgegate-work']) { answered(); await held; }
      await route.continue();
    });
    await one.page.goto('/');
    await answering;
    await expect(one.page.locator('#work')).toBeVisible();
    await expect(one.page.locator('#work-progress')).toHaveAttribute('aria-valuetext', '100%');
    await expect(one.page.getByRole('status')).toHaveText(locale === 'ko-KR' ? /이 페이지를 닫지 말고/ : /keep this page open/);
    await shoot(one.page, `${locale}-work`);
    const { violations } = await new AxeBuilder({ page: one.page }).analyze();
    expect(violations.map((v) => `${v.id}: ${v.help}`)).toEqual([]);
    release();
    await placed(one);
    await one.context.close();
  });

  test(`without JavaScript the frame says the place comes in about two minutes, ${locale}`, async ({ browser, baseURL }) => {
    const context = await browser.newContext({ baseURL, locale, javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto('/');
    await expect(page.frameLocator('iframe').locator('body'))
      .toContainText(locale === 'ko-KR' ? '약 2분 안에 대기 순서가 확정됩니다' : 'within about two minutes');
    await shoot(page, `${locale}-nojs-work`);
    await context.close();
  });
}
