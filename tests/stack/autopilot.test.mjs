// The autopilot against the real origin, over HTTP against `wrangler dev`: an origin that serves
// one request at a time (ORIGIN_MAX_IN_FLIGHT=1) and answers `503` with `Retry-After: 1` beyond
// it is crowded by the citizens let through, and the gate cuts its own rate, within the
// operator's floor, puts the change in the audit log as the autopilot's with its reason, and
// shows it in `GET /admin/state`. The simulator measures how fast it converges
// (`scripts/simulate origin-unknown`); this proves the loop closes through the real Worker.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startGate, startOrigin, derivePassKeys, randomSecrets, Citizen, admin, eventually,
  configure as configureRoom, roomStateOf,
} from '../support/stack.mjs';

let gate, origin, vars;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgegate-autopilot-'));
  const secrets = randomSecrets();
  origin = await startOrigin({
    passKeys: await derivePassKeys(secrets.GATE_KEYS),
    identityKey: secrets.IDENTITY_KEY,
    db: join(dir, 'origin.db'),
    maxInFlight: 1,
    logFile: join(dir, 'origin.log'),
  });
  vars = {
    ...secrets,
    ORIGIN_URL: origin.url,
    SYNC_INTERVAL_MS: '250',
    SYNC_TIMEOUT_MS: '500',
  };
  gate = await startGate({ vars, persistDir: join(dir, 'state') });
});

after(async () => {
  await gate?.stop();
  await origin?.stop();
});

const configure = (patch) => configureRoom(gate, vars.ADMIN_TOKEN, patch);
const roomState = () => roomStateOf(gate, vars.ADMIN_TOKEN);

test('an origin that refuses what it cannot serve makes the gate cut its own rate, audited with the reason', async () => {
  const since = Date.now();
  // Out of range while the autopilot is on: refused by name, nothing changed.
  const on = await configure({
    new_users_per_minute: 600,
    autopilot: { floor_per_minute: 60, ceiling_per_minute: 600, target_p95_ms: 2500, max_errors_per_mille: 10 },
  });
  assert.deepEqual(on.autopilot, { floor_per_minute: 60, ceiling_per_minute: 600, target_p95_ms: 2500, max_errors_per_mille: 10 });
  const outside = await admin(gate, vars.ADMIN_TOKEN, 'PUT', '/admin/config', { new_users_per_minute: 6000 });
  assert.equal(outside.status, 400, JSON.stringify(outside.body));
  assert.match(JSON.stringify(outside.body), /new_users_per_minute/);

  // Citizens let through at 10 a second, then each asks the origin for pages, many at once.
  const citizens = Array.from({ length: 24 }, () => new Citizen(gate.url));
  await Promise.all(citizens.map((c) => c.status()));
  await eventually(async () => {
    const states = await Promise.all(citizens.map(async (c) => (c.cookies.size && [...c.cookies.keys()].some((k) => k.endsWith('edgegate_pass')) ? 'admitted' : (await c.status()).body.state)));
    return states.filter((s) => s === 'admitted').length >= 12;
  }, 'a dozen citizens let through', 60_000, 250);
  const admitted = citizens.filter((c) => [...c.cookies.keys()].some((k) => k.endsWith('edgegate_pass')));

  let refused = 0;
  let served = 0;
  const crowd = async () => {
    const answers = await Promise.all(admitted.flatMap((c) => [c.get('/'), c.get('/')]));
    for (const res of answers) {
      if (res.status === 503) refused += 1;
      else if (res.status < 500) served += 1;
      await res.arrayBuffer();
    }
  };
  const cut = await eventually(async () => {
    await crowd();
    const state = await roomState();
    return state.config.new_users_per_minute < 600 ? state : null;
  }, 'the autopilot to cut the rate', 90_000, 0);
  console.log(`origin answers while crowded: ${served} served, ${refused} refused with 503; rate 600 → ${cut.config.new_users_per_minute} a minute (${cut.autopilot.last_change.why})`);
  assert.ok(refused > 0, 'the origin refused some');
  assert.ok(cut.config.new_users_per_minute >= 60, 'never below the floor');
  assert.ok(cut.config.new_users_per_minute >= 300, 'a cut is by half at most');
  assert.equal(cut.autopilot.rate_per_minute, cut.config.new_users_per_minute);
  assert.equal(cut.autopilot.last_change.from, 600);
  assert.match(cut.autopilot.last_change.why, /forwarded failed|p95 over/);

  const audit = await admin(gate, vars.ADMIN_TOKEN, 'GET', `/admin/audit?since=${since}`);
  const mine = audit.body.entries.filter((e) => e.who === 'autopilot');
  assert.ok(mine.length >= 1, JSON.stringify(audit.body.entries));
  assert.equal(mine[0].what, 'new_users_per_minute');
  assert.equal(mine[0].from, 600);
  for (const e of mine) {
    assert.ok(e.to >= 60 && e.to <= 600 && e.to < e.from, JSON.stringify(e));
    assert.ok(typeof e.why === 'string' && e.why.length > 0, JSON.stringify(e));
  }

  // Off: the rate stays where the autopilot left it, and is the operator's again.
  const off = await configure({ autopilot: null });
  assert.equal(off.autopilot, undefined);
  const state = await roomState();
  assert.equal(state.autopilot, undefined);
  assert.ok(state.config.new_users_per_minute < 600);
  await configure({ new_users_per_minute: 6000 });
});
