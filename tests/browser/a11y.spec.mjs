// Accessibility: axe-core finds no violations on the waiting page in each state and language,
// nor on the booking pages a citizen reaches through the gate.
import AxeBuilder from '@axe-core/playwright';
import { test, expect } from './fixtures.mjs';
import { keyedContext, configure, QUIET, shoot } from './support.mjs';

test.beforeEach(async ({ admin, baseURL }) => { await configure(admin, baseURL, QUIET); });

async function noViolations(page, what) {
  const { violations } = await new AxeBuilder({ page }).analyze();
  const summary = violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  expect(summary, `axe on ${what}`).toEqual([]);
}

for (const locale of ['ko-KR', 'en-US']) {
  test(`the waiting page in every state has no axe violations (${locale})`, async ({ browser, baseURL, admin }) => {
    for (const spec of [
      { mode: 'waiting', position: 321 }, { mode: 'paused', position: 321 }, { mode: 'closed' },
      { mode: 'prequeue', opens_at: Date.now() + 600_000 },
    ]) {
      const context = await keyedContext(browser, baseURL, await admin.testKey(spec), { locale });
      const page = await context.newPage();
      await page.goto('/');
      await expect(page.locator('#room')).toHaveAttribute('data-state', spec.mode);
      await noViolations(page, `${spec.mode} (${locale})`);
      await context.close();
    }
  });
}

test('the booking pages reached through the gate have no axe violations', async ({ browser, baseURL, admin }) => {
  for (const [locale, name, birth, book, done] of [
    ['ko-KR', '이름', '생년월일', '예약하기', '예약이 완료되었습니다'],
    ['en-US', 'Name', 'Birth date', 'Book', 'Booking confirmed'],
  ]) {
    // A "through" key stands for one pass, and a pass books once: a fresh key per booking.
    const context = await keyedContext(browser, baseURL, await admin.testKey({ mode: 'through' }), { locale });
    const page = await context.newPage();
    await page.goto('/');
    await expect(page.locator('a.centre').first()).toBeVisible();
    await noViolations(page, `centre list (${locale})`);
    await shoot(page, `${locale}-origin-centres`);
    await page.locator('a.centre').nth(2).click();
    await expect(page.locator('input[name=slot_id]').first()).toBeVisible();
    await noViolations(page, `centre page (${locale})`);
    await page.locator('input[name=slot_id]').first().check();
    await page.getByLabel(name).fill(locale === 'ko-KR' ? '이서연' : 'Lee Seoyeon');
    await page.getByLabel(birth).fill(locale === 'ko-KR' ? '1968-11-02' : '1969-05-21');
    await shoot(page, `${locale}-origin-centre`);
    await page.getByRole('button', { name: book }).click();
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(done);
    await noViolations(page, `confirmation (${locale})`);
    await shoot(page, `${locale}-origin-confirmation`);
    await context.close();
  }
});
