// The operator console at /admin/: signing in trades the token for an HttpOnly session cookie,
// the live figures follow the room, a control reaches citizens' pages, a change that does not
// come from the console is refused, and the page has no axe violations in either language.
// Every test starts from the quiet room and leaves it so (the suite shares one room).
import AxeBuilder from '@axe-core/playwright';
import { test, expect } from './fixtures.mjs';
import { configure, QUIET, shoot, openWaitingPage, pollUntil } from './support.mjs';

test.beforeEach(async ({ admin, baseURL }) => { await configure(admin, baseURL, QUIET); });
test.afterEach(async ({ admin, baseURL }) => { await configure(admin, baseURL, QUIET); });

const DESK = { width: 1280, height: 900 };

/** A desktop context in `locale` with the console open and signed in as `operator`. */
async function signedIn(browser, baseURL, token, locale = 'en-US', operator = 'tester') {
  const context = await browser.newContext({ baseURL, locale, viewport: DESK });
  const page = await context.newPage();
  await page.goto('/admin/');
  await page.locator('#token').fill(token);
  await page.locator('#operator').fill(operator);
  await page.locator('#signin-form button[type=submit]').click();
  await expect(page.locator('#f-waiting')).not.toHaveText('–');
  return { context, page };
}

test('a wrong token is refused plainly; the right one shows the figures, and is kept nowhere', async ({ browser, baseURL, stack }) => {
  const context = await browser.newContext({ baseURL, locale: 'en-US', viewport: DESK });
  const page = await context.newPage();
  const res = await page.goto('/admin/');
  expect(res.headers()['content-security-policy']).toContain("default-src 'self'");
  expect(res.headers()['cache-control']).toBe('no-store');
  await page.locator('#token').fill('not-the-token');
  await page.locator('#signin-form button[type=submit]').click();
  await expect(page.getByRole('alert').first()).toHaveText('That token is not right. Please check it and try again.');
  await expect(page.locator('#console')).toBeHidden();

  await page.locator('#token').fill(stack.adminToken);
  await page.locator('#signin-form button[type=submit]').click();
  await expect(page.locator('#f-waiting')).toHaveText(/^\d[\d,]*$/);
  await expect(page.locator('#age')).toHaveText(/^Figures are \d+\.\d s old$/);
  expect(page.url()).not.toContain(stack.adminToken);
  expect(await page.evaluate(() => document.cookie)).not.toContain('edgegate_admin');
  expect(await page.content()).not.toContain(stack.adminToken);
  expect(await page.locator('#token').inputValue()).toBe('');
  const [cookie] = (await context.cookies()).filter((c) => c.name === 'edgegate_admin');
  expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/admin' });
  expect(cookie.value).not.toContain(stack.adminToken);
  expect(cookie.expires - Date.now() / 1000).toBeLessThanOrEqual(1800);

  // Signing out ends the session in this browser.
  await page.locator('#signout').click();
  await expect(page.locator('#signin')).toBeVisible();
  expect((await context.request.get('/admin/state')).status()).toBe(401);
  await context.close();
});

test('pausing from the console shows in its figures within 2 s and on a citizen\'s page', async ({ browser, baseURL, stack }) => {
  const { context, page } = await signedIn(browser, baseURL, stack.adminToken);
  await expect(page.locator('#room-state')).toHaveAttribute('data-state', 'open');
  const citizen = await browser.newContext({ baseURL, locale: 'en-US' });
  const waiting = await citizen.newPage();
  expect((await openWaitingPage(waiting)).state).toBe('waiting');

  await page.locator('#pause').click();
  await expect(page.locator('#room-state')).toHaveAttribute('data-state', 'paused', { timeout: 2_000 });
  await expect(page.locator('#room-state')).toHaveText('Entry paused');
  await expect(page.locator('#pause')).toHaveText('Resume entry');
  await pollUntil(waiting, (s) => s.state === 'paused', 'the pause', 10_000);
  await expect(waiting.locator('#room')).toHaveAttribute('data-state', 'paused');

  await page.locator('#pause').click();
  await expect(page.locator('#room-state')).toHaveAttribute('data-state', 'open', { timeout: 2_000 });
  await pollUntil(waiting, (s) => s.state === 'waiting', 'the resumption', 10_000);
  await citizen.close();
  await context.close();
});

test('a change at the coordinator reaches the console within 2 s; an open console costs about one call a second', async ({ browser, baseURL, stack, admin }) => {
  const { context, page } = await signedIn(browser, baseURL, stack.adminToken);
  await expect(page.locator('#f-active')).toContainText(String(QUIET.max_active));
  // Staleness: from the coordinator's answer to a change made elsewhere to the figure on screen.
  await admin.config({ max_active: 499 });
  const changed = Date.now();
  await expect(page.locator('#f-active')).toContainText('499', { timeout: 2_000 });
  const staleMs = Date.now() - changed;
  // Cost: the coordinator's own count of admin calls while only the console asks (our two
  // reads are taken off). Measured over a window, not waited on for an event.
  const first = await admin.state();
  const windowStart = Date.now();
  await page.waitForTimeout(5_000);
  const last = await admin.state();
  const seconds = (Date.now() - windowStart) / 1000;
  const calls = last.coordinator.admin_calls - first.coordinator.admin_calls - 1;
  const perSecond = calls / seconds;
  console.log(`console: change on screen ${staleMs} ms after the coordinator took it; ${calls} coordinator calls in ${seconds.toFixed(1)} s (${perSecond.toFixed(2)}/s) for one open tab`);
  expect(staleMs).toBeLessThanOrEqual(2_000);
  expect(perSecond).toBeLessThanOrEqual(1.5);
  expect(perSecond).toBeGreaterThan(0.5);
  await context.close();
});

test('the gate\'s refusal is shown next to its field, and a tenfold rate asks first', async ({ browser, baseURL, stack, admin }) => {
  const { context, page } = await signedIn(browser, baseURL, stack.adminToken);
  await page.locator('#max_active').fill('-5');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page.locator('#err-max_active')).toContainText('max_active');
  await expect(page.locator('#max_active')).toHaveAttribute('aria-invalid', 'true');

  await page.locator('#max_active').fill(String(QUIET.max_active));
  await page.locator('#new_users_per_minute').fill('600');
  await page.getByRole('button', { name: 'Apply' }).click();
  const dialog = page.locator('dialog#confirm');
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText('ten times or more');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toBeHidden();
  expect((await admin.state()).config.new_users_per_minute).toBe(0);

  await page.getByRole('button', { name: 'Close the room' }).click();
  await expect(dialog).toContainText('Closing the room');
  await dialog.getByRole('button', { name: 'Go ahead' }).click();
  await expect(page.locator('#room-state')).toHaveAttribute('data-state', 'closed', { timeout: 2_000 });
  expect((await admin.state()).config.closed).toBe(true);
  await context.close();
});

test('a change with the session cookie but not from the console is refused', async ({ browser, baseURL, stack, admin }) => {
  const { context, page } = await signedIn(browser, baseURL, stack.adminToken);
  // Reading needs only the cookie.
  expect(await page.evaluate(() => fetch('/admin/state').then((r) => r.status))).toBe(200);
  // A change without the console's header, as another site's form or no-cors fetch would make.
  expect(await page.evaluate(() => fetch('/admin/config', {
    method: 'PUT', body: '{"paused":true}', headers: { 'content-type': 'application/json' },
  }).then((r) => r.status))).toBe(403);
  // With the header but sent from another origin (the request context shares the cookie).
  const foreign = await context.request.put('/admin/config', {
    data: { paused: true }, headers: { 'X-Edgegate-Console': '1', Origin: 'https://elsewhere.example' },
  });
  expect(foreign.status()).toBe(403);
  // Signing in from elsewhere is refused too.
  const login = await context.request.post('/admin/session', { data: { token: stack.adminToken } });
  expect(login.status()).toBe(403);
  expect((await admin.state()).config.paused).toBe(false);
  await context.close();
});

for (const locale of ['ko-KR', 'en-US']) {
  test(`the console has no axe violations and looks right (${locale})`, async ({ browser, baseURL, stack }) => {
    const context = await browser.newContext({ baseURL, locale, viewport: DESK });
    const page = await context.newPage();
    await page.goto('/admin/');
    await expect(page.locator('#signin')).toBeVisible();
    await noViolations(page, `sign-in (${locale})`);
    await shoot(page, `console-signin-${locale}`);
    await context.close();

    const signed = await signedIn(browser, baseURL, stack.adminToken, locale, locale === 'ko-KR' ? '김운영' : 'Kim');
    // A few seconds of samples, so the charts and the table have something in them.
    await signed.page.waitForTimeout(4_000);
    await signed.page.locator('details summary').click();
    await expect(signed.page.locator('#minutes tbody tr').first()).toBeVisible();
    await noViolations(signed.page, `console (${locale})`);
    await shoot(signed.page, `console-${locale}`);
    await signed.context.close();
  });
}

async function noViolations(page, what) {
  const { violations } = await new AxeBuilder({ page }).analyze();
  const summary = violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  expect(summary, `axe on ${what}`).toEqual([]);
}
