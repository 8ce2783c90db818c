// The production environment refuses an origin on this machine. The gate runs under
// `wrangler dev --env production`, so with wrangler.toml's [env.production.vars] and without
// the ALLOW_LOCAL_ORIGIN = "on" every other stack test is started with (startGate), and with a
// loopback origin: it must forward
// nothing, answer every request the worker runs for with the plain 503 page, as for any bad
// setting, and log which setting and host are wrong and how to put them right.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGate, startEchoOrigin, randomSecrets, eventually } from '../support/stack.mjs';

let gate, echo, vars;

before(async () => {
  echo = await startEchoOrigin();
  vars = { ...randomSecrets(), ORIGIN_URL: echo.url };
  // Its health check is refused too: ready once it answers with the gate's own 503 page.
  const refused = async (res) => res.status === 503 && (await res.text()).includes('Something went wrong');
  gate = await startGate({ vars, env: 'production', ready: refused });
});

after(async () => {
  await gate?.stop();
  await echo?.stop();
});

test('a citizen gets the plain 503 page, no ticket, and nothing reaches the loopback origin', async () => {
  for (const path of ['/', '/book/seoul?day=1', '/queue/status', '/queue/']) {
    const res = await fetch(gate.url + path, { redirect: 'manual' });
    const body = await res.text();
    assert.equal(res.status, 503, `${path}: ${body}`);
    assert.match(res.headers.get('content-type'), /^text\/html/, path);
    assert.match(body, /Something went wrong/, path);
    assert.equal(res.headers.get('set-cookie'), null, `${path} sets no cookie`);
    // The detail stays in the log.
    assert.doesNotMatch(body, /ORIGIN_URL|127\.0\.0\.1|ALLOW_LOCAL_ORIGIN/, path);
  }
  assert.deepEqual(echo.seen, [], 'the origin was never asked');
});

test('the admin API and the health check answer 503 as well, as for any bad setting', async () => {
  const health = await fetch(`${gate.url}/queue/healthz`);
  assert.equal(health.status, 503);
  const res = await fetch(`${gate.url}/admin/state`, { headers: { authorization: `Bearer ${vars.ADMIN_TOKEN}` } });
  assert.equal(res.status, 503, await res.text());
});

test('the log names the setting, its host, and the fix', async () => {
  const line = await eventually(
    () => gate.log().split('\n').find((l) => l.includes('edgegate: 503: ORIGIN_URL')),
    'the refusal in the gate\'s log',
  );
  assert.match(line, /ORIGIN_URL: its host "127\.0\.0\.1" is a loopback address/, line);
  assert.match(line, /--env production --var ORIGIN_URL:https:\/\//, line);
  assert.match(line, /ALLOW_LOCAL_ORIGIN = "on" \(scripts\/dev does\)/, line);
});
