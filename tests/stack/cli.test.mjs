// The operator's command-line tool against the running gate (`wrangler dev`): the real binary
// (target/release/edgegate, built by scripts/test) changes the room, reads it back, finds the
// change in the audit log under the operator's name, revokes a citizen's ticket by the number
// the page shows, and fails with the exit codes its --help promises.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startGate, startEchoOrigin, randomSecrets, Citizen, eventually, freePort, root } from '../support/stack.mjs';

const BIN = join(root, 'target', 'release', 'edgegate');
let gate, echo, vars;

before(async () => {
  echo = await startEchoOrigin();
  vars = { ...randomSecrets(), ORIGIN_URL: echo.url, SYNC_INTERVAL_MS: '250', SYNC_TIMEOUT_MS: '500' };
  gate = await startGate({ vars });
});

after(async () => {
  await gate?.stop();
  await echo?.stop();
});

/** Runs the CLI; returns its exit code, stdout (parsed when --json) and stderr. */
function edgegate(args, env = {}) {
  const run = spawnSync(BIN, args, {
    env: { PATH: process.env.PATH, EDGEGATE_URL: gate.url, EDGEGATE_ADMIN_TOKEN: vars.ADMIN_TOKEN, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  const json = args.includes('--json') && run.stdout.trim() ? JSON.parse(run.stdout) : undefined;
  return { code: run.status, out: run.stdout, err: run.stderr, json };
}

test('set, pause and resume change the room, and status and the audit log show it', () => {
  let r = edgegate(['set', 'rate=120', 'max_active=300', 'session=10m', '--operator', 'ops-kim']);
  assert.equal(r.code, 0, r.err);
  r = edgegate(['pause']);
  assert.equal(r.code, 0, r.err);
  r = edgegate(['status', '--json']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.json.config.new_users_per_minute, 120);
  assert.equal(r.json.config.max_active, 300);
  assert.equal(r.json.config.session_duration_s, 600);
  assert.equal(r.json.config.paused, true);
  r = edgegate(['audit', '--json']);
  assert.equal(r.code, 0, r.err);
  const rate = r.json.entries.find((e) => e.what === 'new_users_per_minute');
  assert.ok(rate, JSON.stringify(r.json));
  assert.deepEqual([rate.who, rate.from, rate.to], ['ops-kim', 60, 120]);
  r = edgegate(['resume']);
  assert.equal(r.code, 0, r.err);
  assert.equal(edgegate(['status', '--json']).json.config.paused, false);
  console.log(`audit entries: ${edgegate(['audit', '--json']).json.entries.length}`);
});

test('a rate ten times higher is refused without --yes when nobody can confirm it', () => {
  const r = edgegate(['set', 'rate=1200']);
  assert.equal(r.code, 2, r.out + r.err);
  assert.equal(edgegate(['status', '--json']).json.config.new_users_per_minute, 120);
  const yes = edgegate(['set', 'rate=1200', '--yes']);
  assert.equal(yes.code, 0, yes.err);
  edgegate(['set', 'rate=120']);
});

test('revoke takes the ticket number a citizen reads off the page', async () => {
  const citizen = new Citizen(gate.url);
  const { res } = await citizen.status();
  const ref = res.headers.get('edgegate-ticket-ref');
  assert.match(ref ?? '', /^[0-9A-Z]{4}-[0-9A-Z]{4}$/);
  const r = edgegate(['revoke', '--ticket', ref.toLowerCase(), '--json']);
  assert.equal(r.code, 0, r.err);
  const audit = edgegate(['audit', '--json']).json.entries;
  assert.ok(audit.some((e) => e.what === 'revoke'), JSON.stringify(audit));
});

test('exit codes: a refused value, a wrong token, a gate out of reach', async () => {
  const refused = edgegate(['set', 'burst=100000', '--yes']);
  assert.equal(refused.code, 1, refused.out + refused.err);
  assert.match(refused.err, /burst/);
  const wrong = edgegate(['status'], { EDGEGATE_ADMIN_TOKEN: 'not-the-token' });
  assert.equal(wrong.code, 4, wrong.out + wrong.err);
  assert.ok(!wrong.err.includes('not-the-token') && !wrong.out.includes('not-the-token'), 'the token was printed');
  const nowhere = edgegate(['status'], { EDGEGATE_URL: `http://127.0.0.1:${await freePort()}` });
  assert.equal(nowhere.code, 3, nowhere.out + nowhere.err);
  const report = edgegate(['report', '--json']);
  assert.equal(report.code, 0, report.err);
});
