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
  test(`screenshot: no JavaScript, ${locale}`, async ({ browser, baseURL, admin }) => {
    const context = await keyedContext(browser, baseURL, await admin.testKey({ mode: 'waiting', position: 1234 }), { locale, javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto('/');
    await expect(page.frameLocator('iframe').locator('body')).toContainText('1,234');
    await shoot(page, `${locale}-nojs`);
    await context.close();
  });
}
