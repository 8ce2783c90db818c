//! Checks the invariants written in ARCHITECTURE.md against the dependency graph and the core's
//! sources, so a change that breaks them fails `cargo test`.
//!
//! The graph is read from the workspace's manifests and `Cargo.lock` alone, not from
//! `cargo metadata`: that needs every locked package of every platform in the local registry,
//! which a fresh machine has not downloaded (a build fetches only its own platform's). A
//! workspace member's normal dependencies come from its `Cargo.toml` (`[dependencies]` and
//! `[target.*.dependencies]`, never dev-dependencies); past the members, each locked package's
//! dependency list is followed. That list holds its normal and build dependencies for every
//! platform, which can only over-count, so a leak is never missed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a broken assumption should fail loudly"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use toml::{Table, Value};

const PLATFORM: &[&str] = &[
    "worker",
    "worker-sys",
    "wasm-bindgen",
    "js-sys",
    "web-sys",
    "getrandom",
    "tokio",
    "axum",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read_toml(path: &Path) -> Table {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{} is not TOML: {e}", path.display()))
}

/// One `[[package]]` of Cargo.lock. Workspace members are the ones without a `source`.
struct Locked {
    name: String,
    version: String,
    source: Option<String>,
    deps: Vec<String>,
}

/// The workspace as the test sees it: each member's normal dependencies (package names, after
/// any `package = "…"` rename) and the lock file's packages.
struct Graph {
    members: BTreeMap<String, BTreeSet<String>>,
    locked: Vec<Locked>,
}

impl Graph {
    fn load() -> Self {
        let manifest = read_toml(&root().join("Cargo.toml"));
        let workspace = manifest["workspace"].as_table().unwrap();
        let shared = workspace.get("dependencies").and_then(Value::as_table);
        let mut members = BTreeMap::new();
        for pattern in workspace["members"].as_array().unwrap() {
            for dir in expand_member(pattern.as_str().unwrap()) {
                let member = read_toml(&dir.join("Cargo.toml"));
                let name = member["package"]["name"].as_str().unwrap().to_owned();
                members.insert(name, normal_deps(&member, shared));
            }
        }
        assert!(
            members.contains_key("edgegate-core") && members.contains_key("edgegate"),
            "the workspace members were not found: {:?}",
            members.keys()
        );

        let lock = read_toml(&root().join("Cargo.lock"));
        let locked = lock["package"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| Locked {
                name: p["name"].as_str().unwrap().to_owned(),
                version: p["version"].as_str().unwrap().to_owned(),
                source: p.get("source").and_then(Value::as_str).map(str::to_owned),
                deps: p
                    .get("dependencies")
                    .and_then(Value::as_array)
                    .map(|deps| {
                        deps.iter()
                            .map(|d| d.as_str().unwrap().to_owned())
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        Self { members, locked }
    }

    /// The locked packages that a lock entry's dependency (`name`, `name version` or
    /// `name version (source)`) names; more than one only if the entry is ambiguous.
    fn resolve(&self, dep: &str) -> Vec<&Locked> {
        let mut words = dep.splitn(3, ' ');
        let name = words.next().unwrap();
        let version = words.next();
        let source = words
            .next()
            .map(|s| s.trim_start_matches('(').trim_end_matches(')'));
        let found: Vec<_> = self
            .locked
            .iter()
            .filter(|p| {
                p.name == name
                    && version.is_none_or(|v| p.version == v)
                    && source.is_none_or(|s| p.source.as_deref() == Some(s))
            })
            .collect();
        assert!(
            !found.is_empty(),
            "Cargo.lock names {dep:?} but has no such package"
        );
        found
    }

    /// Name of every package reachable from the member `root_name` through normal dependencies.
    fn reachable(&self, root_name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![self.member(root_name)];
        while let Some(package) = todo.pop() {
            let next: Vec<&str> = match self.members.get(&package.name) {
                // A member's lock entry also lists its dev-dependencies: take its manifest's
                // normal ones, resolved through its lock entry (which pins their versions).
                Some(normal) if package.source.is_none() => package
                    .deps
                    .iter()
                    .map(String::as_str)
                    .filter(|d| normal.contains(d.split(' ').next().unwrap()))
                    .collect(),
                _ => package.deps.iter().map(String::as_str).collect(),
            };
            for dep in next {
                for found in self.resolve(dep) {
                    let key = format!("{} {}", found.name, found.version);
                    if seen.insert(key) {
                        todo.push(found);
                    }
                }
            }
        }
        seen.into_iter()
            .map(|key| key.split(' ').next().unwrap().to_owned())
            .collect()
    }

    fn member(&self, name: &str) -> &Locked {
        self.locked
            .iter()
            .find(|p| p.name == name && p.source.is_none())
            .unwrap_or_else(|| panic!("Cargo.lock has no workspace member {name}"))
    }
}

/// The directories a `workspace.members` entry names: a path, or a path ending in `/*`.
fn expand_member(pattern: &str) -> Vec<PathBuf> {
    let Some(parent) = pattern.strip_suffix("/*") else {
        return vec![root().join(pattern)];
    };
    let mut dirs: Vec<_> = std::fs::read_dir(root().join(parent))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Package names of a manifest's normal dependencies, on every target.
fn normal_deps(manifest: &Table, shared: Option<&Table>) -> BTreeSet<String> {
    let mut tables: Vec<&Table> = manifest
        .get("dependencies")
        .and_then(Value::as_table)
        .into_iter()
        .collect();
    if let Some(targets) = manifest.get("target").and_then(Value::as_table) {
        tables.extend(
            targets
                .values()
                .filter_map(|t| t.get("dependencies").and_then(Value::as_table)),
        );
    }
    let mut names = BTreeSet::new();
    for table in tables {
        for (key, spec) in table {
            // `foo = { workspace = true }` takes its `package` rename from the workspace's table.
            let inherited = spec
                .get("workspace")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let spec = if inherited {
                &shared.unwrap()[key]
            } else {
                spec
            };
            let package = spec.get("package").and_then(Value::as_str).unwrap_or(key);
            names.insert(package.to_owned());
        }
    }
    names
}

#[test]
fn the_core_knows_no_platform() {
    let deps = Graph::load().reachable("edgegate-core");
    assert!(
        deps.contains("sha2") && deps.contains("serde"),
        "the walk missed the core's own dependencies: {deps:?}"
    );
    let leaked: Vec<_> = PLATFORM.iter().filter(|p| deps.contains(**p)).collect();
    assert!(leaked.is_empty(), "edgegate-core reaches {leaked:?}");
}

#[test]
fn the_core_reads_no_clock_and_draws_no_randomness() {
    let src = root().join("crates/edgegate-core/src");
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for banned in [
            "SystemTime",
            "Instant::now",
            "Date::now",
            "getrandom",
            "thread_rng",
        ] {
            assert!(!text.contains(banned), "{} uses {banned}", path.display());
        }
    }
}

#[test]
fn only_the_worker_knows_cloudflare() {
    let graph = Graph::load();
    assert!(
        graph.reachable("edgegate").contains("worker"),
        "the walk does not see the worker's own dependency on worker"
    );
    for name in graph.members.keys() {
        if name == "edgegate" {
            continue;
        }
        let deps = graph.reachable(name);
        assert!(!deps.contains("worker"), "{name} depends on worker");
    }
}

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut todo = vec![root().join(dir)];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    out
}

/// The sources of both wasm modules of the Worker: the workers-rs Worker (`src`), the
/// citizen's (`crates/edgegate-edge`) and what the two share (`crates/edgegate-web`).
fn worker_sources() -> Vec<(PathBuf, String)> {
    let mut out = sources("src");
    out.extend(sources("crates/edgegate-edge/src"));
    out.extend(sources("crates/edgegate-web/src"));
    out
}

#[test]
fn the_citizens_wasm_loads_no_framework() {
    // What every citizen's isolate runs is plain wasm-bindgen over the core: neither workers-rs
    // nor web-sys, nor anything of the Durable Objects' or the operator's.
    let graph = Graph::load();
    let deps = graph.reachable("edgegate-edge");
    assert!(
        deps.contains("edgegate-core") && deps.contains("wasm-bindgen"),
        "the walk missed the citizen's wasm's own dependencies: {deps:?}"
    );
    for framework in ["worker", "worker-sys", "web-sys", "edgegate"] {
        assert!(
            !deps.contains(framework),
            "edgegate-edge reaches {framework}"
        );
    }
    // The two wasm modules share the settings, the pages and the headers through
    // edgegate-web, which knows no platform at all.
    let web = graph.reachable("edgegate-web");
    let leaked: Vec<_> = PLATFORM.iter().filter(|p| web.contains(**p)).collect();
    assert!(leaked.is_empty(), "edgegate-web reaches {leaked:?}");
}

#[test]
fn tokens_are_trusted_and_signed_in_one_place_each() {
    // The gate: cookie and header text become tickets, passes and test keys in the edge's
    // `trust.rs` only (whole or in halves: `verify`, or `authenticate` then `in_scope`), and
    // only there are tickets and passes signed (test keys are minted by the admin API). The
    // origin verifies passes in its guard only.
    let trust = Path::new("crates/edgegate-edge/src/trust.rs");
    let mut seen_trust = false;
    for (path, text) in worker_sources() {
        let here = path.strip_prefix(root()).unwrap();
        if here == trust {
            seen_trust = true;
            continue;
        }
        for call in [
            "::verify(",
            "::authenticate(",
            ".in_scope(",
            ".sign(&settings.ticket_keys)",
            ".sign(&settings.pass_keys)",
        ] {
            assert!(
                !text.contains(call),
                "{} calls {call}: tokens are read and signed in {} only",
                here.display(),
                trust.display()
            );
        }
        if !here.starts_with("src/operator") {
            assert!(
                !text.contains("TestKey::verify") && !text.contains("test_keys)"),
                "{} handles test keys",
                here.display()
            );
        }
    }
    assert!(seen_trust, "the walk did not find {}", trust.display());
    for (path, text) in sources("crates/edgegate-origin/src") {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            name == "guard.rs" || name == "tests.rs" || !text.contains("Pass::verify("),
            "{} verifies a pass outside the guard",
            path.display()
        );
    }
}

#[test]
fn the_worker_does_io_and_the_core_decides() {
    // The admission policy (cursor, ledger, limiter, places) is driven only through the core:
    // the worker never names its parts, and never asks the isolate's book to count, admit or
    // end anything itself. What a visit gets is `visit::serve`'s decision; the worker only
    // translates text.
    for (path, text) in worker_sources() {
        for part in ["ReleaseState", "Ledger", "Limiter", "Places", "Histogram"] {
            assert!(
                !text.contains(part),
                "{} names {part}: decisions belong in the core",
                path.display()
            );
        }
        for call in [
            ".admit(",
            ".issue(",
            ".end_session(",
            "book.visit(",
            ".status(&",
        ] {
            assert!(
                !text.contains(call),
                "{} calls {call}: a visit is decided by edgegate_core::visit",
                path.display()
            );
        }
    }
}

/// The `crate::` paths a source names outside its tests.
fn crate_imports(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap();
    code.match_indices("crate::")
        .map(|(at, _)| {
            code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|m| !m.is_empty())
        .collect()
}

#[test]
fn the_workers_parts_import_the_shared_helpers_never_each_other() {
    // The Durable Objects and the operator's API each import `shared` (the clock, settings,
    // names, bodies, pages) and themselves, never one another. (The citizen's edge is a crate
    // of its own, `crates/edgegate-edge`, which cannot import either.)
    let parts = ["objects", "operator", "shared"];
    let mut walked = 0;
    for (path, text) in sources("src") {
        let here = path.strip_prefix(root().join("src")).unwrap();
        let Some(part) = here
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
        else {
            continue;
        };
        if !parts.contains(&part) {
            continue;
        }
        walked += 1;
        for import in crate_imports(&text) {
            let allowed = import == part || import == "shared";
            assert!(
                allowed,
                "src/{} ({part}) imports crate::{import}",
                here.display()
            );
        }
    }
    assert!(
        walked >= 12,
        "the walk found only {walked} sources in the parts"
    );
}

#[test]
fn the_core_has_no_import_cycle() {
    // Each module of the core names the ones it uses; the graph they make has no cycle (the
    // sync protocol, for one, is `sync.rs`, which neither the aggregator nor the room imports
    // the other to reach).
    let dir = root().join("crates/edgegate-core/src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if name == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut uses = crate_imports(&text);
        uses.remove(&name);
        graph.insert(name, uses);
    }
    assert!(
        graph.contains_key("visit") && graph.contains_key("sync"),
        "{graph:?}"
    );
    // Depth-first, with the path so far: a module met again on it closes a cycle.
    fn visit(
        module: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(module) {
            return;
        }
        if let Some(at) = path.iter().position(|m| m == module) {
            panic!(
                "the core's modules import in a cycle: {:?} → {module}",
                &path[at..]
            );
        }
        path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            if graph.contains_key(next) {
                visit(next, graph, path, done);
            }
        }
        path.pop();
        done.insert(module.to_owned());
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        visit(module, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_js_entry_carries_bytes_and_decides_nothing() {
    // wrangler's `main` is the JS entry, and it reaches the platform only beside the crates: it
    // imports the citizen's wasm, its glue and its own body reader, nothing else: not the room's
    // Worker (the Durable Objects, the operator's API), which a citizen's isolate never loads.
    let wrangler = read_toml(&root().join("wrangler.toml"));
    assert_eq!(wrangler["main"].as_str(), Some("src/entry.mjs"));
    let entry = std::fs::read_to_string(root().join("src/entry.mjs")).unwrap();
    let imports: Vec<&str> = entry
        .lines()
        .filter(|l| l.starts_with("import ") || l.contains(" from '"))
        .collect();
    assert_eq!(
        imports,
        [
            "import edgeModule from '../build/edge/edgegate_edge_bg.wasm';",
            "import {",
            "} from '../build/edge/edgegate_edge.js';",
            "import { readBounded, TOO_LARGE } from './body.mjs';",
        ],
        "src/entry.mjs imports only the citizen's wasm, its glue and its body reader"
    );
    // Tokens are read and signed in trust.rs only (invariant 4); the admission policy is the
    // core's (invariant 11). The entry handles neither: no crypto, no token or policy words.
    for word in [
        "crypto", "atob", "btoa", "verify", ".sign(", "admit(", "cursor", "Limiter", "Ledger",
    ] {
        assert!(!entry.contains(word), "src/entry.mjs names {word:?}");
    }
    // No list or rule is written in both languages: the entry spells none of the headers the
    // gate drops, the gate's cookie names, its pages' paths or their security policies. It
    // reads them from the wasm (`edge_lists`).
    let lists = std::fs::read_to_string(root().join("crates/edgegate-edge/src/entry.rs")).unwrap();
    let dropped = quoted_list(&lists, "pub const NOT_FORWARDED: &[&str] = &[", "];");
    assert!(dropped.len() > 10, "{dropped:?}");
    for name in dropped.iter().filter(|n| n.as_str() != "content-length") {
        assert!(
            !entry.contains(&format!("'{name}'")),
            "src/entry.mjs spells the header {name:?}: the list is the wasm's"
        );
    }
    for spelled in [
        "edgegate_ticket",
        "edgegate_pass",
        "edgegate_test",
        "default-src",
        "/queue/",
        "/admin",
        "no-store",
        "nosniff",
    ] {
        assert!(
            !entry.contains(spelled),
            "src/entry.mjs spells {spelled:?}: the rule is the wasm's"
        );
    }
}

/// The quoted strings of `text` between `start` and the next `end` (a list literal).
fn quoted_list(text: &str, start: &str, end: &str) -> Vec<String> {
    let from = text.find(start).unwrap_or_else(|| panic!("no {start:?}")) + start.len();
    let body = &text[from..];
    let body = &body[..body.find(end).unwrap()];
    body.split(['"', '\''])
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_static_files_carry_the_workers_own_policies() {
    // The platform serves the pages' files itself, with the headers www/_headers gives them:
    // the same security policies as the answers the worker builds.
    let rules = std::fs::read_to_string(root().join("www/_headers")).unwrap();
    let headers =
        std::fs::read_to_string(root().join("crates/edgegate-web/src/headers.rs")).unwrap();
    let policy = |name: &str| {
        let at = headers.find(&format!("pub const {name}: &str =")).unwrap();
        let text = &headers[at..];
        let text = &text[..text.find(";\n").unwrap()];
        // The literal, with Rust's line continuations (a `\` at the end of a line drops the
        // line break and the next line's indent) undone.
        let literal = text.split('"').nth(1).unwrap();
        literal
            .split("\\\n")
            .map(str::trim_start)
            .collect::<String>()
    };
    for (path, name) in [
        ("/queue/static/*", "PAGE_CSP"),
        ("/admin/static/*", "CONSOLE_CSP"),
    ] {
        let block = rules.split(path).nth(1).unwrap();
        let block = block.split("\n/").next().unwrap();
        assert!(
            block.contains(&format!("Content-Security-Policy: {}", policy(name))),
            "www/_headers gives {path} another policy than {name}: {block}"
        );
        assert!(block.contains("X-Content-Type-Options: nosniff"), "{path}");
    }
}

#[test]
fn the_page_times_its_polls_as_the_core_does() {
    // The waiting page is a static asset: it cannot ask the wasm for the floor, so the number
    // is written in both, and held equal here.
    let page = std::fs::read_to_string(root().join("www/queue/static/app.js")).unwrap();
    let floor = edgegate_core::status::POLL_FLOOR_MS;
    let lead = edgegate_core::status::LEAD_MAX_MS;
    // status::page_wait_ms, which the simulator's citizens follow, written in the page's terms.
    let wanted = format!(
        "var next = Number(s.next_poll_ms) || 5000;\n          \
         var lead = s.ahead === 0 ? Math.min(roundTrip, next / 2, {lead}) : 0;\n          \
         schedule(Math.max({floor}, next - lead));"
    );
    assert!(
        page.contains(&wanted),
        "www/queue/static/app.js must wait as status::page_wait_ms does (at least \
         POLL_FLOOR_MS, {floor} ms, between polls; early by at most LEAD_MAX_MS, {lead} ms): \
         `{wanted}`"
    );
    assert!(
        page.contains("roundTrip = Math.max(0, performance.now() - began);"),
        "the page measures each poll's round trip"
    );
}
