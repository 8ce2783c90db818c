// Fixtures for the browser suite: the running stack's addresses, an admin client, and the
// server logs attached to every failed test.
import { test as base, expect } from '@playwright/test';
import { readFileSync, existsSync } from 'node:fs';

export { expect };

export const test = base.extend({
  stack: [async ({}, use) => {
    await use({
      gate: process.env.EDGEGATE_GATE_URL,
      // The operator's console, on an origin of its own (OPERATOR_HOST).
      operator: process.env.EDGEGATE_OPERATOR_URL,
      origin: process.env.EDGEGATE_ORIGIN_URL,
      adminToken: process.env.EDGEGATE_ADMIN_TOKEN,
    });
  }, { scope: 'worker' }],

  baseURL: async ({ stack }, use) => use(stack.gate),

  /** The admin API: `admin.config({...})`, `admin.state()`, `admin.testKey({...})`. */
  admin: async ({ stack, playwright }, use) => {
    const api = await playwright.request.newContext({
      baseURL: stack.gate,
      extraHTTPHeaders: { authorization: `Bearer ${stack.adminToken}` },
    });
    const call = async (method, path, data) => {
      const res = await api.fetch(path, { method, data });
      // Read as text first, so a non-JSON failure still says what the gate answered.
      const text = await res.text();
      if (!res.ok()) throw new Error(`${method} ${path} → ${res.status()}: ${text}`);
      return JSON.parse(text);
    };
    await use({
      config: (patch) => call('PUT', '/admin/config', patch),
      state: () => call('GET', '/admin/state'),
      testKey: (spec) => call('POST', '/admin/test-key', spec).then((b) => b.test_key),
    });
    await api.dispose();
  },

  /** Attaches the gate's and the origin's logs when a test fails. */
  serverLogs: [async ({}, use, testInfo) => {
    await use();
    if (testInfo.status !== testInfo.expectedStatus) {
      for (const [name, path] of [['gate.log', process.env.EDGEGATE_GATE_LOG], ['origin.log', process.env.EDGEGATE_ORIGIN_LOG]]) {
        if (path && existsSync(path)) await testInfo.attach(name, { body: readFileSync(path), contentType: 'text/plain' });
      }
    }
  }, { auto: true }],
});
