// A bad ROOM_ROUTES is refused alike by both Workers. The citizen's wasm reads the setting with
// the platform's JSON.parse and the room's Worker with serde_json, and the core checks what
// either read; for each mistake the citizen gets the plain 503 page with no ticket, the admin
// API a 503, and the gate's log the setting and what is wrong, never the setting's text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGate, startEchoOrigin, randomSecrets, eventually } from '../support/stack.mjs';

const refused = async (res) => res.status === 503 && (await res.text()).includes('Something went wrong');

const mistakes = [
  // A misspelt field would otherwise send the room's citizens to the default origin.
  ['a field the routes do not have', [{ name: 'second', prefix: '/second', orgin: 'https://second.invalid' }], /unknown field/],
  ['a number where text belongs', [{ name: 'second', prefix: 17 }], /prefix|invalid type/],
  ['a room without a name', [{ prefix: '/second' }], /name/],
  ['an object where the list belongs', { name: 'second', prefix: '/second' }, /list|sequence/],
];

test('a ROOM_ROUTES with a mistake is a 503 at the citizen\'s edge and at the admin API, named in the log', async () => {
  const echo = await startEchoOrigin();
  try {
    for (const [what, routes, why] of mistakes) {
      const vars = { ...randomSecrets(), ORIGIN_URL: echo.url, ROOM_ROUTES: JSON.stringify(routes) };
      const gate = await startGate({ vars, ready: refused });
      try {
        for (const path of ['/', '/second/book', '/queue/status']) {
          const res = await fetch(gate.url + path, { redirect: 'manual' });
          const body = await res.text();
          assert.equal(res.status, 503, `${what}: ${path}: ${body}`);
          assert.equal(res.headers.get('set-cookie'), null, `${what}: ${path} sets no cookie`);
          assert.doesNotMatch(body, /ROOM_ROUTES|second/, `${what}: ${path} keeps the detail in the log`);
        }
        const api = await fetch(`${gate.url}/admin/state`, { headers: { authorization: `Bearer ${vars.ADMIN_TOKEN}` } });
        assert.equal(api.status, 503, `${what}: the admin API`);
        const refusals = () => gate.log().split('\n').filter((l) => l.includes('edgegate: 503: ROOM_ROUTES'));
        await eventually(() => refusals().length > 0, `${what}: the refusal in the gate's log`);
        for (const line of refusals()) assert.match(line, why, `${what}: ${line}`);
      } finally {
        await gate.stop();
      }
    }
    assert.deepEqual(echo.seen, [], 'the origin was never asked');
  } finally {
    await echo.stop();
  }
});
