// Helpers the browser scenarios share: driving the waiting page's own poll timer with
// Playwright's fake clock (so no test waits out a 30-second poll), and reading the room.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, expect } from './fixtures.mjs';
import { afterSyncs, settledState } from '../support/stack.mjs';

/** Where screenshots are kept for people to look at (besides the test report). */
export const SCREENS = join(import.meta.dirname, '..', '..', 'test-results', 'screens');

/** Saves a full-page screenshot as a test artifact and as test-results/screens/<name>.png. */
export async function shoot(page, name) {
  const png = await page.screenshot({ fullPage: true });
  await test.info().attach(name, { body: png, contentType: 'image/png' });
  mkdirSync(SCREENS, { recursive: true });
  writeFileSync(join(SCREENS, `${name}.png`), png);
}

export const STATUS = '/queue/status';
const isStatus = (r) => new URL(r.url()).pathname === STATUS;

const inflight = new WeakMap();
function track(page) {
  if (inflight.has(page)) return;
  inflight.set(page, 0);
  const bump = (d) => (r) => { if (isStatus(r)) inflight.set(page, inflight.get(page) + d); };
  page.on('request', bump(1));
  page.on('requestfinished', bump(-1));
  page.on('requestfailed', bump(-1));
}

/**
 * Opens `path` on a page whose timers are under Playwright's clock, and resolves with the first
 * status answer the page receives. Real time still flows; `pollNow` jumps it forward.
 */
export async function openWaitingPage(page, path = '/') {
  track(page);
  await page.clock.install();
  const first = page.waitForResponse(isStatus);
  const res = await page.goto(path);
  expect(res.status()).toBe(200);
  return (await first).json();
}

/**
 * Makes the page run its next scheduled poll now, by jumping its clock past the interval the
 * gate chose, and resolves with that poll's answer.
 */
export async function pollNow(page) {
  // A poll already on its way is awaited first: jumping the clock under it would fire the
  // page's own 15 s abort guard.
  await expect.poll(() => inflight.get(page) ?? 0, { message: 'a status poll to finish' }).toBe(0);
  const answer = page.waitForResponse(isStatus);
  // The longest interval the gate or the page's back-off ever asks for is 60 s.
  await page.clock.fastForward(61_000);
  const response = await answer;
  // An admitted page moves on in the same instant, and the poll's body goes with it.
  return response.json().catch(() => ({ state: 'navigated', url: page.url() }));
}

/** Polls (through the page's own timer) until `check(status)` holds; returns that status. */
export async function pollUntil(page, check, what, deadlineMs = 20_000) {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const status = await pollNow(page);
    if (check(status)) return status;
    if (Date.now() > until) throw new Error(`the page never saw ${what}; last status ${JSON.stringify(status)}`);
  }
}

/** A live room with nobody admitted and nothing forced: the state each scenario starts from. */
export const QUIET = {
  new_users_per_minute: 0, max_active: 500, session_duration_s: 300,
  paused: false, closed: false, opens_at: null, test_mode: true,
  session_max_s: 3_600, budget_v6: 4, budget_v4: 16, work_for_all: false,
  autopilot: null, slots_remaining: null, next_release_at: null,
};

/**
 * Applies `patch` and resolves once the edge has it: after two coordinator syncs that began
 * after the change. Scenarios start from here, so no ticket is issued under the previous
 * scenario's settings.
 */
export async function configure(admin, gate, patch) {
  await admin.config(patch);
  await afterSyncs(admin.state, await nudger(admin, gate));
}

/** The coordinator's count of arrivals once it has settled. */
export async function settledArrivals(admin, gate) {
  return (await settledState(admin.state, await nudger(admin, gate))).counters.seated_total;
}

/** A status poll under a test key: it sets off a due sync and counts for nothing. */
async function nudger(admin, gate) {
  const key = await admin.testKey({ mode: 'waiting', position: 1 });
  return () => fetch(gate + STATUS, { headers: { 'edgegate-test-key': key } });
}

/**
 * A browser context whose every request carries the test key `key`, returned once the edge
 * honours it (test mode has reached it: a keyed status poll issues no ticket).
 */
export async function keyedContext(browser, baseURL, key, options = {}) {
  const context = await browser.newContext({ baseURL, extraHTTPHeaders: { 'edgegate-test-key': key }, ...options });
  await expect.poll(async () => (await context.request.get(STATUS)).headers()['set-cookie'] ?? 'none',
    { message: 'test mode to reach the edge' }).toBe('none');
  return context;
}
