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

#[test]
fn tokens_are_trusted_and_signed_in_one_place_each() {
    // The gate: cookie and header text become tickets, passes and test keys in `trust.rs`
    // only, and only there are tickets and passes signed (test keys are minted by the admin
    // API). The origin verifies passes in its guard only.
    for (path, text) in sources("src") {
        let name = path.file_name().unwrap().to_str().unwrap();
        for call in ["Ticket::verify(", "Pass::verify(", "TestKey::verify("] {
            assert!(
                name == "trust.rs" || !text.contains(call),
                "{} calls {call}",
                path.display()
            );
        }
        if name != "trust.rs" {
            assert!(
                !text.contains(".sign(&settings.ticket_keys)")
                    && !text.contains(".sign(&settings.pass_keys)"),
                "{} signs a ticket or pass",
                path.display()
            );
        }
    }
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
    // The admission policy (cursor, ledger, limiter, places) is driven only through the core's
    // isolate book and room: the worker never names the parts, so it cannot decide by itself.
    for (path, text) in sources("src") {
        for part in ["ReleaseState", "Ledger", "Limiter", "Places", "Histogram"] {
            assert!(
                !text.contains(part),
                "{} names {part}: decisions belong in the core's isolate.rs or room.rs",
                path.display()
            );
        }
    }
}

#[test]
fn forwarding_and_the_citizen_pages_do_not_import_each_other_both_ways() {
    let text = |f: &str| std::fs::read_to_string(root().join("src").join(f)).unwrap();
    assert!(
        !text("forward.rs").contains("crate::citizen"),
        "forward.rs imports citizen: the trust boundary is trust.rs"
    );
    assert!(
        !text("trust.rs").contains("crate::citizen")
            && !text("trust.rs").contains("crate::forward")
    );
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
fn the_js_entry_carries_bytes_and_decides_nothing() {
    // wrangler's `main` is the JS entry, and it reaches the platform only beside the crate:
    // it imports worker-build's output and nothing else.
    let wrangler = read_toml(&root().join("wrangler.toml"));
    assert_eq!(wrangler["main"].as_str(), Some("src/entry.mjs"));
    let entry = std::fs::read_to_string(root().join("src/entry.mjs")).unwrap();
    let imports: Vec<&str> = entry
        .lines()
        .filter(|l| l.starts_with("import ") || l.contains(" from '"))
        .collect();
    assert_eq!(
        imports,
        ["import Rust, { RoomCoordinator, LocationAggregator } from '../build/index.js';"],
        "src/entry.mjs imports only the workers-rs build"
    );
    // Tokens are read and signed in trust.rs only (invariant 4); the admission policy is the
    // core's (invariant 11). The entry handles neither: no crypto, no token or policy words.
    for word in [
        "crypto", "atob", "btoa", "verify", "sign(", "admit(", "cursor", "Limiter", "Ledger",
    ] {
        assert!(!entry.contains(word), "src/entry.mjs names {word:?}");
    }
    // Both paths forward alike: the entry strips exactly the headers forward.rs strips.
    let forward = std::fs::read_to_string(root().join("src/forward.rs")).unwrap();
    let mut rust = quoted_list(&forward, "const NOT_FORWARDED: &[&str] = &[", "];");
    let mut js = quoted_list(&entry, "const NOT_FORWARDED = [", "];");
    rust.sort();
    js.sort();
    assert_eq!(
        js, rust,
        "src/entry.mjs and forward.rs strip different headers"
    );
}
