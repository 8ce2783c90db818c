// Starts the stack once for the browser suite: the origin (fresh database) and the gate under
// `wrangler dev` (fresh room), both on free loopback ports, and waits for their health URLs.
// Their addresses, the admin token and the log files reach the tests through process.env.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGate, startOrigin, derivePassKeys, randomSecrets } from '../support/stack.mjs';

export default async function globalSetup() {
  const dir = mkdtempSync(join(tmpdir(), 'edgegate-browser-'));
  const secrets = randomSecrets();
  const logs = { gate: join(dir, 'gate.log'), origin: join(dir, 'origin.log') };
  const origin = await startOrigin({
    passKeys: await derivePassKeys(secrets.GATE_KEYS),
    identityKey: secrets.IDENTITY_KEY,
    db: join(dir, 'origin.db'),
    logFile: logs.origin,
  });
  let gate;
  try {
    gate = await startGate({
      vars: {
        GATE_KEYS: secrets.GATE_KEYS,
        ADMIN_TOKEN: secrets.ADMIN_TOKEN,
        ORIGIN_URL: origin.url,
        SYNC_TIMEOUT_MS: '500',
        SYNC_INTERVAL_MS: '250',
        // One machine plays citizens of many networks (the console's networks panel).
        CLIENT_ADDRESS_HEADER: 'on',
      },
      persistDir: join(dir, 'state'),
      logFile: logs.gate,
    });
  } catch (e) {
    await origin.stop();
    throw e;
  }
  Object.assign(process.env, {
    EDGEGATE_GATE_URL: gate.url,
    EDGEGATE_OPERATOR_URL: gate.operatorUrl,
    EDGEGATE_ORIGIN_URL: origin.url,
    EDGEGATE_ADMIN_TOKEN: secrets.ADMIN_TOKEN,
    EDGEGATE_GATE_LOG: logs.gate,
    EDGEGATE_ORIGIN_LOG: logs.origin,
  });
  return async () => {
    await gate.stop();
    await origin.stop();
  };
}
