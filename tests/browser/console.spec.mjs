// The operator console at /admin/: signing in trades the token for an HttpOnly session cookie,
// the live figures follow the room, a control reaches citizens' pages, a change that does not
// come from the console is refused, the places client networks hold are shown (never an
// address) and their budgets set, and the page has no axe violations in either language.
// Every test starts from the quiet room and leaves it so (the suite shares one room).
import { readFileSync } from 'node:fs';
import AxeBuilder from '@axe-core/playwright';
import { test, expect } from './fixtures.mjs';
import { configure, QUIET, shoot, openWaitingPage, pollUntil, STATUS } from './support.mjs';
import { Citizen } from '../support/stack.mjs';

test.beforeEach(async ({ admin, baseURL }) => { await configure(admin, baseURL, QUIET); });
test.afterEach(async ({ admin, baseURL }) => { await configure(admin, baseURL, QUIET); });

const DESK = { width: 1280, height: 900 };

/**
 * A desktop context in `locale` with the console open and signed in as `operator`; `prepare`
 * may set up routes on the page first.
 */
async function signedIn(browser, baseURL, token, locale = 'en-US', operator = 'tester', prepare = null) {
  const context = await browser.newContext({ baseURL, locale, viewport: DESK });
  const page = await context.newPage();
  if (prepare) await prepare(page);
  await page.goto('/admin/');
  await page.locator('#token').fill(token);
  await page.locator('#operator').fill(operator);
  await page.locator('#signin-form button[type=submit]').click();
  await expect(page.locator('#f-waiting')).not.toHaveText('–');
  return { context, page };
}

test('a wrong token is refused plainly; the right one shows the figures, and is kept nowhere', async ({ browser, stack }) => {
  const context = await browser.newContext({ baseURL: stack.operator, locale: 'en-US', viewport: DESK });
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
  const { context, page } = await signedIn(browser, stack.operator, stack.adminToken);
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
  const { context, page } = await signedIn(browser, stack.operator, stack.adminToken);
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
  const { context, page } = await signedIn(browser, stack.operator, stack.adminToken);
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
  const { context, page } = await signedIn(browser, stack.operator, stack.adminToken);
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

test('a ticket number read off a citizen\'s page is withdrawn from the console, and the audit shows it', async ({ browser, baseURL, stack }) => {
  const citizen = await browser.newContext({ baseURL, locale: 'en-US' });
  const waiting = await citizen.newPage();
  expect((await openWaitingPage(waiting)).state).toBe('waiting');
  await expect(waiting.locator('#ticket-ref')).toBeVisible();
  const ref = (await waiting.locator('#ticket-ref').textContent()).match(/[0-9A-Z]{4}-[0-9A-Z]{4}/)[0];

  const { context, page } = await signedIn(browser, stack.operator, stack.adminToken);
  const dialog = page.locator('dialog#confirm');
  // Nothing typed: said at the field, nothing sent.
  await page.getByRole('button', { name: 'Withdraw', exact: true }).click();
  await expect(page.locator('#err-revoke_ticket')).toHaveText('Please enter a ticket number.');
  await expect(dialog).toBeHidden();
  // A number the gate cannot read: its refusal, next to the field.
  await page.getByLabel(/^Ticket number/).fill('nope');
  await page.getByRole('button', { name: 'Withdraw', exact: true }).click();
  await dialog.getByRole('button', { name: 'Go ahead' }).click();
  await expect(page.locator('#err-revoke_ticket')).toContainText('ticket number');
  await expect(page.locator('#revoke_ticket')).toHaveAttribute('aria-invalid', 'true');
  // The citizen's, cancelled once, then confirmed.
  await page.getByLabel(/^Ticket number/).fill(ref.toLowerCase());
  await page.getByRole('button', { name: 'Withdraw', exact: true }).click();
  await expect(dialog).toContainText(`withdraws ticket ${ref}`);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.locator('#done-revoke_ticket')).toBeHidden();
  await page.getByRole('button', { name: 'Withdraw', exact: true }).click();
  await dialog.getByRole('button', { name: 'Go ahead' }).click();
  await expect(page.locator('#done-revoke_ticket')).toHaveText(`Withdrew ${ref}.`);
  await expect(page.locator('#err-revoke_ticket')).toBeHidden();
  await expect(page.locator('#audit li').first()).toContainText(`tester · revoke: ${ref}`);

  // "Every pass issued before" a time still to come is refused here, before any dialog.
  const soon = new Date(Date.now() + 3_600_000);
  const pad = (n) => String(n).padStart(2, '0');
  await page.getByLabel(/^Withdraw every pass issued before/).fill(
    `${soon.getFullYear()}-${pad(soon.getMonth() + 1)}-${pad(soon.getDate())}T${pad(soon.getHours())}:${pad(soon.getMinutes())}:00`);
  await page.getByRole('button', { name: 'Withdraw all' }).click();
  await expect(page.locator('#err-revoke_before')).toContainText('in the future');
  await expect(dialog).toBeHidden();
  await citizen.close();
  await context.close();
});

test('the history downloads as CSV and JSON, named for the room and the day', async ({ browser, baseURL, stack }) => {
  const { context, page } = await signedIn(browser, stack.operator, stack.adminToken);
  const day = (d) => `${d.getFullYear()}${String(d.getMonth() + 1).padStart(2, '0')}${String(d.getDate()).padStart(2, '0')}`;
  const [csv] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
  expect(csv.suggestedFilename()).toMatch(new RegExp(`^edgegate-[A-Za-z0-9_.-]+-history-${day(new Date())}\\.csv$`));
  const lines = readFileSync(await csv.path(), 'utf8').split('\n');
  expect(lines[0]).toBe('minute,arrivals,let_through,active,waiting,rate_per_minute,paused,no_shows');
  await expect(page.locator('#export-status')).toHaveText(`Downloaded ${csv.suggestedFilename()}.`);

  const [json] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download JSON' }).click()]);
  expect(json.suggestedFilename()).toMatch(/^edgegate-.+-history-\d{8}\.json$/);
  expect(Array.isArray(JSON.parse(readFileSync(await json.path(), 'utf8')).minutes)).toBe(true);
  await context.close();
});

test('with one room there is no picker and no ?room=; with several, the chosen one goes on every call', async ({ browser, baseURL, stack }) => {
  // The suite's gate has one room.
  const sent = [];
  const one = await signedIn(browser, stack.operator, stack.adminToken, 'en-US', 'tester', (page) => {
    page.on('request', (r) => { if (new URL(r.url()).pathname.startsWith('/admin/')) sent.push(r.url()); });
  });
  await expect(one.page.locator('#f-waiting')).not.toHaveText('–');
  // Two polls of the state after the room list: every call the page makes on its own is in.
  await expect.poll(() => sent.filter((u) => new URL(u).pathname === '/admin/state').length).toBeGreaterThanOrEqual(2);
  await expect(one.page.locator('#room-picker')).toBeHidden();
  expect(sent.some((u) => u.endsWith('/admin/rooms'))).toBe(true);
  expect(sent.filter((u) => u.includes('room='))).toEqual([]);
  // The gate's answer carries the locations reporting and the origin's health: the panel shows.
  await expect(one.page.locator('#edge')).toBeVisible();
  await one.context.close();

  // Two rooms (the list stubbed): the calls that name one are answered by the suite's room.
  const named = [];
  const several = await signedIn(browser, stack.operator, stack.adminToken, 'en-US', 'tester', async (page) => {
    await page.route('**/admin/rooms', (route) => route.fulfill({
      json: { rooms: [{ name: 'main', default: true }, { name: 'pass-check', default: false }] },
    }));
    await page.route((url) => url.pathname.startsWith('/admin/') && url.searchParams.has('room'), (route) => {
      const url = new URL(route.request().url());
      named.push(`${route.request().method()} ${url.pathname}${url.search}`);
      url.searchParams.delete('room');
      return route.continue({ url: url.toString() });
    });
  });
  const pick = several.page.getByLabel('Room', { exact: true });
  await expect(pick).toBeVisible();
  await expect(pick).toHaveValue('main');
  await expect(pick.locator('option')).toHaveText(['main (default)', 'pass-check']);
  await expect.poll(() => named.some((n) => n.startsWith('GET /admin/state?room=main'))).toBe(true);
  await pick.selectOption('pass-check');
  for (const path of ['/admin/state', '/admin/history', '/admin/audit']) {
    await expect.poll(() => named.some((n) => n.startsWith(`GET ${path}?room=pass-check`)), { message: path }).toBe(true);
  }
  expect(await several.page.evaluate(() => sessionStorage.getItem('edgegate.room'))).toBe('pass-check');
  await expect(several.page.locator('#f-waiting')).not.toHaveText('–');
  const [csv] = await Promise.all([several.page.waitForEvent('download'),
    several.page.getByRole('button', { name: 'Download CSV' }).click()]);
  expect(csv.suggestedFilename()).toMatch(/^edgegate-pass-check-history-\d{8}\.csv$/);
  expect(named).toContain('GET /admin/history?format=csv&room=pass-check');
  await several.page.getByLabel(/^Ticket number/).fill('nope');
  await several.page.getByRole('button', { name: 'Withdraw', exact: true }).click();
  await several.page.locator('dialog#confirm').getByRole('button', { name: 'Go ahead' }).click();
  await expect(several.page.locator('#err-revoke_ticket')).toContainText('ticket number');
  expect(named).toContain('POST /admin/revoke?room=pass-check');
  // Kept for this tab's session.
  await several.page.reload();
  await expect(pick).toHaveValue('pass-check');
  await several.context.close();
});

test('the networks panel counts places by network without an address, and a budget set in the form takes effect', async ({ browser, baseURL, stack, admin }) => {
  const { context, page } = await signedIn(browser, stack.operator, stack.adminToken);
  const panel = page.getByRole('region', { name: 'Places by network' });
  await expect(panel).toBeVisible();
  await expect(page.locator('#n-budgets')).toHaveText('4 per IPv6 /64 · 16 per IPv4 address');
  await expect(page.locator('#n-for-all')).toHaveText('A new place beyond its network\u2019s budget must show work.');

  // Out of bounds: the gate's refusal, next to the field, and nothing changed.
  const v4 = page.getByLabel('Places per IPv4 address without work');
  await v4.fill('0');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page.locator('#err-budget_v4')).toContainText('budget_v4');
  await expect(v4).toHaveAttribute('aria-invalid', 'true');
  expect((await admin.state()).config.budget_v4).toBe(16);
  // Two places per IPv4 address: the gate has it, and the panel says so.
  await v4.fill('2');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page.locator('#control-done')).toHaveText('Applied.');
  await expect(page.locator('#err-budget_v4')).toBeHidden();
  const set = await admin.state();
  expect(set.config.budget_v4).toBe(2);
  expect(set.networks.budget_v4).toBe(2);
  expect(set.config.budget_v6).toBe(QUIET.budget_v6);
  expect(set.config.work_for_all).toBe(false);
  await expect(page.locator('#n-budgets')).toHaveText('4 per IPv6 /64 · 2 per IPv4 address');

  // Citizens of two networks (the test-only address header): two places from one IPv4
  // address, which fills its budget, and one from an IPv6 /64. A place is taken when its
  // ticket comes back, so each polls twice.
  const from = (address) => ({ headers: { 'x-edgegate-client-address': address } });
  const citizens = [['198.51.100.7', new Citizen(baseURL)], ['198.51.100.7', new Citizen(baseURL)],
    ['2001:db8:7:7::1', new Citizen(baseURL)]];
  for (const [address, citizen] of citizens) {
    for (let i = 0; i < 2; i++) {
      const res = await citizen.get(STATUS, from(address));
      expect(res.status).toBe(200);
      expect((await res.json()).state).toBe('waiting');
    }
  }
  await expect(page.locator('#n-holding')).toHaveText('2');
  await expect(page.locator('#n-full')).toHaveText('1');
  await expect(page.locator('#networks-trouble')).toHaveText('One network holds its budget: its new places must show work.');
  await expect(page.locator('#nets tbody tr')).toHaveText([/^1\s*IPv4 address\s*2 of 2$/, /^2\s*IPv6 \/64\s*1 of 4$/]);
  // A third from the full address is asked for work once the edge has the news, and the
  // panel counts it.
  const third = new Citizen(baseURL);
  await expect.poll(async () => {
    const res = await third.get(STATUS, from('198.51.100.7'));
    return (await res.json()).work ? 'work' : 'no work';
  }, { message: 'work asked of a full network' }).toBe('work');
  await expect(page.locator('#n-asked')).not.toHaveText('0');
  const seen = await admin.state();
  expect(seen.networks.work_asked_total).toBeGreaterThanOrEqual(1);
  await expect(page.locator('#n-asked')).toHaveText(String(seen.networks.work_asked_total));
  // No address anywhere on the page.
  expect(await page.content()).not.toMatch(/198\.51\.100|2001:db8/);
  await noViolations(page, 'console with networks (en-US)');
  await shoot(page, 'console-networks-en-US');
  await context.close();
});

/** What the gate's /admin/state will carry besides: the edge's locations and its view of the origin. */
function withEdgeFigures(state) {
  const codes = ['NRT', 'ICN', 'HKG', 'SIN', 'LAX', 'FRA', 'AMS', 'CDG', 'LHR', 'SYD', 'GRU', 'ORD', 'IAD', 'SEA',
    'KIX', 'TPE', 'MNL', 'BOM', 'DXB', 'JNB', 'YYZ', 'MAD', 'ARN'];
  return {
    ...state,
    config: { ...state.config, new_users_per_minute: 600 },
    counters: { ...state.counters, waiting: 1234 },
    locations: codes.map((location, i) => ({ location, isolates: location === 'ICN' ? 9 : Math.max(1, 8 - i), synced_ms_ago: 120 + 37 * i })),
    origin: { window_s: 60, requests: 4210, errors_5xx: 3, timeouts: 0, latency_ms: { p50: 42, p90: 118, p99: 640 } },
    networks: {
      holding: 1840, full: 3, work_asked_total: 5210, work_shown_total: 4987, budget_v6: 4, budget_v4: 16, work_for_all: false,
      top: [{ places: 212, ipv4: true }, { places: 16, ipv4: true }, { places: 16, ipv4: true }, { places: 4, ipv4: false },
        { places: 3, ipv4: true }, { places: 3, ipv4: false }, { places: 2, ipv4: false }],
    },
  };
}

for (const locale of ['ko-KR', 'en-US']) {
  test(`the console has no axe violations and looks right (${locale})`, async ({ browser, baseURL, stack }) => {
    const context = await browser.newContext({ baseURL: stack.operator, locale, viewport: DESK });
    const page = await context.newPage();
    await page.goto('/admin/');
    await expect(page.locator('#signin')).toBeVisible();
    await noViolations(page, `sign-in (${locale})`);
    await shoot(page, `console-signin-${locale}`);
    await context.close();

    const signed = await signedIn(browser, stack.operator, stack.adminToken, locale, locale === 'ko-KR' ? '김운영' : 'Kim',
      (page) => page.route('**/admin/state', async (route) => {
        const response = await route.fetch();
        if (response.status() !== 200) return route.fulfill({ response });
        return route.fulfill({ response, json: withEdgeFigures(await response.json()) });
      }));
    const ko = locale === 'ko-KR';
    // The edge's figures: most isolates first, twenty at most, the origin's errors said in words.
    await expect(signed.page.locator('#edge')).toBeVisible();
    await expect(signed.page.locator('#places tbody tr')).toHaveCount(20);
    await expect(signed.page.locator('#places tbody tr').first()).toHaveText(/^ICN\s*9\s*0\.2$/);
    await expect(signed.page.locator('#places-more')).toHaveText(ko ? '외 3곳 더' : '+3 more');
    await expect(signed.page.locator('#o-requests')).toHaveText('4,210');
    await expect(signed.page.locator('#o-latency')).toHaveText(ko ? '42ms / 118ms / 640ms' : '42 ms / 118 ms / 640 ms');
    await expect(signed.page.locator('#origin-trouble')).toContainText(ko ? '5xx 오류 3건' : '5xx errors: 3, timeouts: 0');
    await expect(signed.page.locator('#h-origin')).toHaveText(ko ? '에지에서 본 원 서버 (최근 1분)' : 'The origin as the edge sees it (last minute)');
    // The networks: counts and families only, the five holding the most.
    await expect(signed.page.locator('#n-holding')).toHaveText('1,840');
    await expect(signed.page.locator('#n-full')).toHaveText('3');
    await expect(signed.page.locator('#networks-trouble')).toHaveText(ko
      ? '예산이 찬 네트워크 3곳: 이 네트워크의 새 자리는 작업 증명을 거칩니다.'
      : '3 networks hold their budget: their new places must show work.');
    await expect(signed.page.locator('#nets tbody tr')).toHaveCount(5);
    await expect(signed.page.locator('#nets tbody tr').first()).toHaveText(ko ? /^1\s*IPv4 주소\s*212 \/ 16$/ : /^1\s*IPv4 address\s*212 of 16$/);
    await expect(signed.page.locator('#nets tbody tr').nth(3)).toHaveText(ko ? /^4\s*IPv6 \/64\s*4 \/ 4$/ : /^4\s*IPv6 \/64\s*4 of 4$/);
    await expect(signed.page.locator('#n-budgets')).toHaveText(ko ? 'IPv6 /64당 4 · IPv4 주소당 16' : '4 per IPv6 /64 · 16 per IPv4 address');
    // 1,234 waiting at 10 a second: about two minutes.
    await expect(signed.page.locator('#f-wait')).toHaveText(ko ? '약 2분' : 'about 2 min');
    // A few polls' samples, so the charts and the table have something in them.
    for (let i = 0; i < 3; i++) {
      await signed.page.waitForResponse((r) => new URL(r.url()).pathname === '/admin/state');
    }
    await signed.page.locator('details summary').click();
    await expect(signed.page.locator('#minutes tbody tr').first()).toBeVisible();
    await noViolations(signed.page, `console (${locale})`);
    await shoot(signed.page, `console-${locale}`);
    // A poll still being stubbed when the page closes would fail on its disposed response.
    await signed.page.unrouteAll({ behavior: 'ignoreErrors' });
    await signed.context.close();
  });
}

async function noViolations(page, what) {
  const { violations } = await new AxeBuilder({ page }).analyze();
  const summary = violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  expect(summary, `axe on ${what}`).toEqual([]);
}

test('the operator says no slots are left and when the next open, and a newcomer is told so', async ({ browser, baseURL, stack, admin }) => {
  const { context, page } = await signedIn(browser, stack.operator, stack.adminToken);
  await page.getByLabel('Slots left (empty if not known)').fill('0');
  await page.getByLabel(/^Next release/).fill('2026-12-06T09:00');
  await page.getByRole('button', { name: 'Set slots' }).click();
  await expect(page.locator('#control-done')).toHaveText('Applied.');
  const set = await admin.state();
  expect(set.config.slots_remaining).toBe(0);
  expect(typeof set.config.next_release_at).toBe('number');
  await expect(page.locator('#o-slots')).toContainText('0; up to 0 more in line');
  const newcomer = new Citizen(baseURL);
  await expect.poll(async () => {
    const body = await (await newcomer.get(STATUS)).json();
    return body.slots_taken ? body.slots_taken.next_release_at : null;
  }, { message: 'a newcomer told the slots are taken' }).toBe(set.config.next_release_at);
  // Emptied: not known, and nobody is told anything.
  await page.getByLabel('Slots left (empty if not known)').fill('');
  await page.getByLabel(/^Next release/).fill('');
  await page.getByRole('button', { name: 'Set slots' }).click();
  await expect(page.locator('#control-done')).toHaveText('Applied.');
  const cleared = await admin.state();
  expect(cleared.config.slots_remaining).toBeUndefined();
  expect(cleared.config.next_release_at).toBeUndefined();
  await context.close();
});
