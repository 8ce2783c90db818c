// A citizen's way through the gate in real Chromium: the waiting page, one place kept through
// reloads and tabs, bad cookies shrugged off, admission, the pass, and a booking at the origin.
import { test, expect } from './fixtures.mjs';
import { openWaitingPage, pollUntil, configure, QUIET, settledArrivals, STATUS } from './support.mjs';

test.beforeEach(async ({ admin, baseURL }) => { await configure(admin, baseURL, QUIET); });

test('waiting page → the operator raises the rate → the page asked for → a confirmed booking', async ({ page, admin, context }) => {
  const first = await openWaitingPage(page, '/centres/2?lang=en');
  expect(first.state).toBe('waiting');
  await expect(page.locator('#room')).toHaveAttribute('data-state', 'waiting');
  await expect(page.locator('#position')).toHaveText(/^\d[\d,]*$/);
  expect(page.url()).toMatch(/\/centres\/2\?lang=en$/);

  await admin.config({ new_users_per_minute: 6000 });
  // The page keeps polling on its own schedule; once admitted it goes to /centres/2 itself.
  const navigated = page.waitForURL(/\/centres\/2\?lang=en$/, { waitUntil: 'load' });
  await pollUntil(page, (s) => s.state === 'admitted' || s.state === 'navigated', 'admission');
  await navigated;
  await expect(page.getByRole('heading', { level: 1 })).not.toHaveText(/wait|line/i);
  await expect(page.locator('#room')).toHaveCount(0);
  // The progress bar's baseline belonged to that place in line; a later visit starts afresh.
  expect(await page.evaluate(() => localStorage.getItem('edgegate.first'))).toBeFalsy();

  // The pass: HttpOnly, SameSite=Lax, Path=/, invisible to the page's scripts.
  const pass = (await context.cookies()).find((c) => c.name.endsWith('edgegate_pass'));
  expect(pass, 'a pass cookie').toBeTruthy();
  expect(pass).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
  expect(await page.evaluate(() => document.cookie)).not.toContain('edgegate_pass');

  // Book the first open slot.
  await page.locator('input[name=slot_id]').first().check();
  await page.getByLabel('Name').first().fill('Kim Minji');
  await page.getByLabel('Birth date').first().fill('1971-03-14');
  await page.getByRole('button', { name: 'Book' }).first().click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Booking confirmed');
  await expect(page.locator('#booking-id')).toHaveText(/\S+/);
  // Booking done, the origin ended the session: the pass is gone and the place freed.
  expect((await context.cookies()).find((c) => c.name.endsWith('edgegate_pass'))).toBeUndefined();
  // The place is used up: coming back is a new arrival, and the page says why, plainly.
  await admin.config({ new_users_per_minute: 0 });
  await page.goto('/centres/2?lang=en');
  await expect(page.locator('#rejoined')).toBeVisible();
  await expect(page.locator('#rejoined')).toHaveText(/visit to the booking site has ended/);
  await page.screenshot({ path: 'test-results/screens/rejoined-en-US.png' });
});

test('ten reloads and a second tab keep one ticket and one place', async ({ page, context, admin, baseURL }) => {
  const before = await settledArrivals(admin, baseURL);
  const first = await openWaitingPage(page, '/');
  const ticket = (await context.cookies()).find((c) => c.name.endsWith('edgegate_ticket'));
  let position = first.position;
  for (let i = 0; i < 10; i++) {
    const answer = page.waitForResponse((r) => new URL(r.url()).pathname === STATUS);
    await page.reload();
    const s = await (await answer).json();
    expect(s.position, `reload ${i + 1}`).toBeLessThanOrEqual(position);
    position = s.position;
  }
  const tab = await context.newPage();
  const other = await openWaitingPage(tab, '/somewhere-else');
  expect(other.position).toBeLessThanOrEqual(position);
  await expect(tab.locator('#position')).toHaveText((await page.locator('#position').textContent()) ?? '');
  const now = (await context.cookies()).find((c) => c.name.endsWith('edgegate_ticket'));
  expect(now.value).toBe(ticket.value);
  const after = await settledArrivals(admin, baseURL);
  expect(after - before, 'arrivals counted for one citizen').toBe(1);
});

for (const [what, spoil] of [
  ['tampered', (v) => v.slice(0, 40) + (v[40] === 'A' ? 'B' : 'A') + v.slice(41)],
  ['truncated', (v) => v.slice(0, 50)],
  ['forged', () => Buffer.concat([Buffer.from([1, 0x54, 1]), Buffer.alloc(112, 7)]).toString('base64url')],
]) {
  test(`a ${what} ticket cookie gets a fresh ticket and the waiting page, no error`, async ({ page, context, baseURL }) => {
    await openWaitingPage(page, '/');
    const jar = await context.cookies();
    const ticket = jar.find((c) => c.name.endsWith('edgegate_ticket'));
    const bad = spoil(ticket.value);
    await context.clearCookies();
    await context.addCookies([{ name: ticket.name, value: bad, url: baseURL }]);
    const errors = [];
    page.on('pageerror', (e) => errors.push(e));
    const answer = page.waitForResponse((r) => new URL(r.url()).pathname === STATUS);
    const res = await page.reload();
    expect(res.status()).toBe(200);
    expect((await answer).status()).toBe(200);
    await expect(page.locator('#room')).toHaveAttribute('data-state', 'waiting');
    const fresh = (await context.cookies()).find((c) => c.name.endsWith('edgegate_ticket'));
    expect(fresh.value).not.toBe(bad);
    expect(fresh.value).not.toBe(ticket.value);
    expect(errors).toEqual([]);
  });
}
