// What `wrangler deploy --env production` would upload for the gate's two Workers, and whether
// the README's "Deploying" section still matches it: `wrangler deploy --env production --dry-run
// --outdir <tmp>` on each config (the room's, wrangler.objects.toml, and the gate's; scripts/test
// builds them first) must exit 0 without a warning, the room's with both Durable Objects exported
// and bound, the gate's with the citizen's wasm alone and its bindings to the room's Worker by
// name, the waiting page's assets read, and the README's own deploy inputs (its `routes` line and
// its `--var`) accepted;
// production's variables must be the local ones less the loopback `ORIGIN_URL`, and neither may
// set `ALLOW_LOCAL_ORIGIN`, which only local runs pass; every wrangler.toml table and secret the README names
// must be one wrangler.toml and the worker know. No account or network is needed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root } from '../support/stack.mjs';

const wranglerToml = readFileSync(join(root, 'wrangler.toml'), 'utf8');
const objectsToml = readFileSync(join(root, 'wrangler.objects.toml'), 'utf8');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const deploying = readme.slice(readme.indexOf('## Deploying'), readme.indexOf('\n## ', readme.indexOf('## Deploying') + 1));

/** The tables wrangler.toml defines, by dotted name (`[[durable_objects.bindings]]` gives `durable_objects.bindings`). */
const tables = new Set([...wranglerToml.matchAll(/^\s*\[\[?\s*([^\]\s]+)\s*\]\]?/gm)].map((m) => m[1]));
/** The `KEY = "value"` lines of a wrangler.toml table, such as `vars` or `env.production.vars`. */
function table(name, toml = wranglerToml) {
  const at = toml.search(new RegExp(`^\\[${name.replaceAll('.', '\\.')}\\]`, 'm'));
  if (at < 0) return new Map();
  const body = toml.slice(at).split('\n').slice(1);
  const end = body.findIndex((line) => line.startsWith('['));
  return new Map(body.slice(0, end < 0 ? undefined : end)
    .map((l) => l.match(/^([A-Z_][A-Z0-9_]*)\s*=\s*"([^"]*)"/)).filter(Boolean).map((m) => [m[1], m[2]]));
}
/** wrangler.toml's `[vars]` (the local ones) and `[env.production.vars]`. */
const localVars = table('vars');
const vars = new Set(localVars.keys());
const productionVars = table('env.production.vars');
/** The Durable Object bindings (name and class) at the top level and in `[env.production]`. */
function bindings(prefix, toml = wranglerToml) {
  const header = `[[${prefix}durable_objects.bindings]]`;
  return toml.split('\n[').filter((t) => `[${t}`.startsWith(header))
    .map((t) => `${t.match(/^name\s*=\s*"(\w+)"/m)?.[1]} ${t.match(/^class_name\s*=\s*"(\w+)"/m)?.[1]}`);
}
const classes = [...new Set([...objectsToml.matchAll(/class_name\s*=\s*"(\w+)"/g)].map((m) => m[1]))];
/** The `name = "…"` a binding of `toml` gives its Worker, at the top level or in production. */
const scriptNames = (toml) => [...toml.matchAll(/^(?:script_name|service)\s*=\s*"([\w-]+)"/gm)].map((m) => m[1]);
/** Every name the worker reads from its environment, as the string literal it reads it by: the
 * workers-rs Worker's sources, the citizen's wasm's, and the settings both parse alike. */
const workerSource = ['src', 'crates/edgegate-edge/src', 'crates/edgegate-web/src']
  .flatMap((dir) => readdirSync(join(root, dir), { recursive: true }).filter((f) => f.endsWith('.rs'))
    .map((f) => readFileSync(join(root, dir, f), 'utf8'))).join('\n');

const routesLine = deploying.match(/`(routes = \[[^`]*\])`/)?.[1];
const varArg = deploying.match(/`npx wrangler deploy --env production --var (\S+?)`/)?.[1];
const secrets = [...deploying.matchAll(/wrangler secret put (\w+)/g)].map((m) => m[1]);

let dir, run, runObjects;

/** Runs wrangler with a deadline; resolves with its exit code and everything it printed. */
function wrangler(args, deadlineMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(join(root, 'node_modules', '.bin', 'wrangler'), args, {
      cwd: root,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { out += c; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`wrangler ran past ${deadlineMs} ms:\n${out}`)); }, deadlineMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

/** `toml` as it would be after the README's step 2, in a folder of its own: paths absolute. */
function copied(toml, name, extraTopLevel) {
  const absolute = toml
    .replace(/^main = "([^"]+)"/m, (_, p) => `main = "${join(root, p)}"`)
    .replace(/^directory = "([^"]+)"/m, (_, p) => `directory = "${join(root, p)}"`)
    .replace(/^\[build\]$/m, `[build]\ncwd = "${root}"`);
  const firstTable = absolute.search(/^\[/m);
  const config = `${absolute.slice(0, firstTable)}${extraTopLevel}\n\n${absolute.slice(firstTable)}`;
  writeFileSync(join(dir, name), config);
  return join(dir, name);
}

before(async () => {
  assert.ok(routesLine, 'the README names a routes line for wrangler.toml');
  assert.ok(varArg, 'the README deploys with --env production --var');
  dir = mkdtempSync(join(tmpdir(), 'edgegate-deploy-'));
  // The room's Worker first, as the README deploys them; then the gate, with the README's routes
  // line added at the top level. The copies live in a folder of their own, so the paths in them
  // are made absolute and the build runs in the repository.
  const objects = copied(objectsToml, 'wrangler.objects.toml', '');
  runObjects = await wrangler(['deploy', '--env', 'production', '--dry-run', '--config', objects, '--outdir', join(dir, 'objects'), '--var', varArg], 300_000);
  const gate = copied(wranglerToml, 'wrangler.toml', routesLine);
  run = await wrangler(['deploy', '--env', 'production', '--dry-run', '--config', gate, '--outdir', join(dir, 'bundle'), '--var', varArg], 300_000);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('wrangler deploy --env production --dry-run bundles both Workers with the README routes and --var, and exits 0', () => {
  for (const [what, r] of [['the room', runObjects], ['the gate', run]]) {
    assert.equal(r.code, 0, `${what}:\n${r.out}`);
    assert.match(r.out, /--dry-run: exiting now/, r.out);
    // Such as a top-level variable or binding that [env.production] lacks ("not inherited").
    assert.doesNotMatch(r.out, /WARNING/, r.out);
  }
  const bundle = readdirSync(join(dir, 'bundle'));
  assert.ok(bundle.includes('entry.js'), `bundle: ${bundle}`);
  // A citizen's isolate loads the gate's bundle: the citizen's wasm, and not the room's.
  const wasm = bundle.filter((f) => f.endsWith('.wasm'));
  assert.equal(wasm.length, 1, `the gate's bundle has one wasm: ${bundle}`);
  assert.match(wasm[0], /edgegate_edge_bg\.wasm$/);
  assert.ok(readdirSync(join(dir, 'objects')).some((f) => f.endsWith('.wasm')), 'the room has its wasm');
});

test('both Durable Objects are bound and exported by the room, and the gate binds to it by name', () => {
  assert.deepEqual(classes.toSorted(), ['LocationAggregator', 'RoomCoordinator']);
  const main = readdirSync(join(dir, 'objects')).find((f) => f.endsWith('.js'));
  const entry = readFileSync(join(dir, 'objects', main), 'utf8');
  const exported = entry.slice(entry.lastIndexOf('export {'));
  for (const name of classes) {
    assert.match(runObjects.out, new RegExp(`env\\.\\w+ \\(${name}\\)\\s+Durable Object`), `${name} is bound:\n${runObjects.out}`);
    assert.match(exported, new RegExp(`\\bas ${name}\\b|\\b${name}\\b`), `${name} is exported: ${exported}`);
  }
  // The gate exports no Durable Object; it reaches the aggregators and the operator's API in the
  // room's Worker, under the name that Worker deploys as in each environment.
  const gateEntry = readFileSync(join(dir, 'bundle', 'entry.js'), 'utf8');
  for (const name of classes) assert.doesNotMatch(gateEntry, new RegExp(`class ${name}\\b`));
  const objectsName = objectsToml.match(/^name = "([\w-]+)"/m)[1];
  const envAt = wranglerToml.search(/^\[\[?env\./m);
  const [local, production] = [scriptNames(wranglerToml.slice(0, envAt)), scriptNames(wranglerToml.slice(envAt))];
  assert.deepEqual(local, [objectsName, objectsName]);
  assert.deepEqual(production, [`${objectsName}-production`, `${objectsName}-production`]);
  assert.match(run.out, new RegExp(`env\\.LOCATIONS \\(LocationAggregator, defined in ${objectsName}-production\\)`), run.out);
  assert.match(run.out, new RegExp(`env\\.OBJECTS \\(${objectsName}-production\\)`), run.out);
  // The room's Worker has no address of its own: its operator's API is reached only through
  // the gate.
  assert.match(objectsToml, /^workers_dev = false$/m);
  assert.match(objectsToml, /^preview_urls = false$/m);
  assert.doesNotMatch(runObjects.out, /workers\.dev/, runObjects.out);
});

test('the waiting page and the console go up as assets', () => {
  const count = (d) => readdirSync(d, { withFileTypes: true })
    .reduce((n, e) => n + (e.isDirectory() ? count(join(d, e.name)) : 1), 0);
  assert.match(run.out, /env\.ASSETS\s+Assets/, run.out);
  // wrangler's count includes the folders (4 of them today), so only a floor is asserted.
  const read = run.out.match(/Read (\d+) files from the assets directory (\S+)/);
  assert.ok(read, run.out);
  assert.equal(read[2], join(root, 'www'));
  assert.ok(Number(read[1]) >= count(join(root, 'www')), `${read[1]} read, ${count(join(root, 'www'))} files in www`);
});

test('the --var the README deploys with replaces the local ORIGIN_URL', () => {
  const [name] = varArg.split(':');
  assert.equal(name, 'ORIGIN_URL');
  assert.ok(vars.has(name) && workerSource.includes(`"${name}"`), `${name} is a variable the worker reads`);
  const local = wranglerToml.match(/^ORIGIN_URL = "([^"]+)"/m)[1];
  assert.match(run.out, /env\.ORIGIN_URL /, run.out);
  assert.ok(!run.out.includes(`env.ORIGIN_URL ("${local}")`), `the deployed ORIGIN_URL is not the local ${local}:\n${run.out}`);
});

test('the secrets the README sets are ones the worker reads, and none is a plain [vars] entry', () => {
  assert.deepEqual(secrets, ['GATE_KEYS', 'ADMIN_TOKEN', 'GATE_KEYS']);
  for (const name of secrets) {
    assert.ok(workerSource.includes(`"${name}"`), `the worker reads ${name}`);
    assert.ok(!vars.has(name), `${name} would be uploaded in plain text from [vars]`);
  }
});

const named = [...deploying.matchAll(/`\[([a-z_.]+)\]`/g)].map((m) => m[1]);
const hasProduction = [...tables].some((t) => t === 'env.production' || t.startsWith('env.production.'));

test('every wrangler.toml table the README names exists', () => {
  assert.ok(named.includes('build') && named.includes('vars'), `named: ${named}`);
  for (const table of named.filter((t) => !t.startsWith('env.production'))) {
    assert.ok(tables.has(table), `wrangler.toml has [${table}]`);
  }
});

test('the production environment the README names exists in wrangler.toml', () => {
  assert.ok(hasProduction, 'wrangler.toml defines [env.production]');
  assert.ok(named.includes('env.production.vars'), `named: ${named}`);
  for (const table of named.filter((t) => t.startsWith('env.production'))) {
    const parent = table.split('.').slice(0, 2).join('.');
    assert.ok(tables.has(table) || tables.has(parent) || [...tables].some((t) => t.startsWith(`${parent}.`)), `wrangler.toml has [${table}]`);
  }
});

test('production binds the Durable Objects as the top level does, which it does not inherit', () => {
  assert.equal(bindings('', objectsToml).length, 2, bindings('', objectsToml).join(', '));
  assert.deepEqual(bindings('env.production.', objectsToml).toSorted(), bindings('', objectsToml).toSorted());
  assert.deepEqual(bindings('env.production.').toSorted(), bindings('').toSorted());
});

test('the two Workers read the same variables, locally and in production', () => {
  assert.deepEqual(Object.fromEntries(table('vars', objectsToml)), Object.fromEntries(localVars));
  assert.deepEqual(Object.fromEntries(table('env.production.vars', objectsToml)), Object.fromEntries(productionVars));
});

test('production has the local variables, less the local origin, and neither allows a local origin', () => {
  // What is local by nature: the loopback origin, and the switch that lets the gate forward there.
  assert.match(localVars.get('ORIGIN_URL'), /^http:\/\/127\.0\.0\.1:/);
  assert.equal(productionVars.get('ORIGIN_URL'), '');
  // The switch is in no table: a deploy of this file, in any environment, refuses a local origin.
  assert.ok(!localVars.has('ALLOW_LOCAL_ORIGIN'), 'the top-level [vars] set ALLOW_LOCAL_ORIGIN');
  assert.ok(!productionVars.has('ALLOW_LOCAL_ORIGIN'), '[env.production.vars] set ALLOW_LOCAL_ORIGIN');
  assert.ok(workerSource.includes('"ALLOW_LOCAL_ORIGIN"'), 'the worker reads ALLOW_LOCAL_ORIGIN');
  // Everything else the same, so a tunable changed at the top level is not left behind.
  const rest = (m) => Object.fromEntries([...m].filter(([k]) => k !== 'ORIGIN_URL' && k !== 'ALLOW_LOCAL_ORIGIN'));
  assert.deepEqual(rest(productionVars), rest(localVars));
  // And what wrangler would upload says the same.
  assert.doesNotMatch(run.out, /env\.ALLOW_LOCAL_ORIGIN /, run.out);
  // The switches only tests turn on are in neither list.
  for (const name of ['CLIENT_ADDRESS_HEADER', 'LOCATION_HEADER', 'EDGEGATE_FAULTS']) {
    assert.ok(!localVars.has(name) && !productionVars.has(name), `${name} is set in wrangler.toml`);
    assert.doesNotMatch(run.out, new RegExp(`env\\.${name} `), run.out);
  }
});
