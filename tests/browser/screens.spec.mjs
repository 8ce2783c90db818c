// Screenshots of every state of the waiting page in both languages (and without JavaScript),
// forced with test keys so they show fixed numbers. Saved as test artifacts and under
// test-results/screens/ for people to look at.
import { test, expect } from './fixtures.mjs';
import { keyedContext, configure, QUIET, shoot } from './support.mjs';

test.beforeEach(async ({ admin, baseURL }) => { await configure(admin, baseURL, QUIET); });

const STATES = [
  ['waiting', { mode: 'waiting', position: 1234 }],
  ['paused', { mode: 'paused', position: 1234 }],
  ['closed', { mode: 'closed' }],
  ['prequeue', { mode: 'prequeue', opens_at: Date.now() + 2 * 3_600_000 + 754_000 }],
  ['admitted', { mode: 'waiting', position: 1 }],
];

for (const locale of ['ko-KR', 'en-US']) {
  for (const [state, spec] of STATES) {
    test(`screenshot: ${state}, ${locale}`, async ({ browser, baseURL, admin }) => {
      const context = await keyedContext(browser, baseURL, await admin.testKey(spec), { locale });
      const page = await context.newPage();
      if (state === 'admitted') {
        // The admitted moment lasts one frame before the page moves on, so it is staged: the
        // status says admitted, and the browser has (as far as the page knows) just bounced
        // back three times, as when cookies are refused. The page must stop and say so.
        await page.route('**/queue/status', (route) => route.fulfill({
          json: { state: 'admitted', position: 0, ahead: 0, eta_s: null, next_poll_ms: 1000, opens_at: null, stale: false },
        }));
        await page.addInitScript(() => sessionStorage.setItem('edgegate.bounce', `3:${Date.now()}`));
        await page.goto('/');
        await expect(page.locator('#room')).toHaveAttribute('data-state', 'admitted');
        await expect(page.getByRole('status')).toContainText(/쿠키|cookies/);
        await shoot(page, `${locale}-admitted-cookies-refused`);
        await context.close();
        return;
      }
      await page.goto('/');
      await expect(page.locator('#room')).toHaveAttribute('data-state', state);
      if (state === 'waiting' || state === 'paused') await expect(page.locator('#position')).toContainText('1,234');
      if (state === 'prequeue') await expect(page.locator('#countdown')).toHaveText(/^2:(12|13):\d\d$/);
      await shoot(page, `${locale}-${state}`);
      await context.close();
    });
  }
  test(`screenshot: readmitted after an origin fault, ${locale}`, async ({ browser, baseURL, admin }) => {
    // Staged, as the admitted moment is: the status a citizen handed back to the front gets
    // (the stack test `readmission` drives the real one).
    const context = await keyedContext(browser, baseURL, await admin.testKey({ mode: 'waiting', position: 1 }), { locale });
    const page = await context.newPage();
    await page.route('**/queue/status', (route) => route.fulfill({
      json: { state: 'waiting', position: 1, ahead: 0, eta_s: [0, 2], next_poll_ms: 60000, opens_at: null, stale: false, readmitted: true },
    }));
    await page.goto('/');
    await expect(page.locator('#room')).toHaveAttribute('data-state', 'waiting');
    await expect(page.locator('#rejoined')).toContainText(locale === 'ko-KR' ? '맨 앞 순서로 돌아와' : 'back at the front of the line');
    await shoot(page, `${locale}-readmitted`);
    await context.close();
  });
  test(`screenshot: slots taken, ${locale}`, async ({ browser, baseURL, admin }) => {
    // Not staged: the operator says no slots are left and when the next ones open, and a new
    // visitor's page is told so before it waits, in Korea's time.
    const next = Date.UTC(2026, 11, 6, 0, 0);
    await configure(admin, baseURL, { ...QUIET, new_users_per_minute: 60, test_mode: false, slots_remaining: 0, next_release_at: next });
    const context = await browser.newContext({ baseURL, locale, timezoneId: 'Asia/Seoul' });
    const page = await context.newPage();
    await page.goto('/');
    await expect(page.locator('#room')).toHaveAttribute('data-state', 'taken', { timeout: 20_000 });
    const ko = locale === 'ko-KR';
    await expect(page.locator('#headline')).toHaveText(ko ? '예약할 수 있는 자리가 모두 찼습니다' : 'All the slots are taken');
    await expect(page.getByRole('status')).toContainText(ko ? '12월 6일' : '6 December');
    await expect(page.getByRole('status')).toContainText('09:00');
    await expect(page.locator('#eta')).toHaveText(ko ? '남은 자리 없음' : 'no slot left');
    await expect(page.locator('#position')).not.toBeEmpty();
    await shoot(page, `${locale}-slots-taken`);
    await context.close();
  });
  test(`screenshot: no JavaScript, ${locale}`, async ({ browser, baseURL, admin }) => {
    const context = await keyedContext(browser, baseURL, await admin.testKey({ mode: 'waiting', position: 1234 }), { locale, javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto('/');
    await expect(page.frameLocator('iframe').locator('body')).toContainText('1,234');
    await shoot(page, `${locale}-nojs`);
    await context.close();
  });
}
