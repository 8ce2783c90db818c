//! Checks the invariants written in ARCHITECTURE.md against the resolved dependency graph
//! (`cargo metadata`) and the core's sources, so a change that breaks them fails `cargo test`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test code: a broken assumption should fail loudly"
)]

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

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

fn metadata() -> Value {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// Package name of every package reachable from `root` through normal (non-dev) dependencies.
fn reachable(meta: &Value, root_name: &str) -> BTreeSet<String> {
    let names: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let root_id = names
        .iter()
        .find(|(_, name)| **name == root_name)
        .map(|(id, _)| *id)
        .unwrap();
    let mut seen = BTreeSet::new();
    let mut todo = vec![root_id];
    while let Some(id) = todo.pop() {
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            let dep_id = dep["pkg"].as_str().unwrap();
            if normal && seen.insert(names[dep_id].to_owned()) {
                todo.push(dep_id);
            }
        }
    }
    seen
}

#[test]
fn the_core_knows_no_platform() {
    let deps = reachable(&metadata(), "edgegate-core");
    let leaked: Vec<_> = PLATFORM.iter().filter(|p| deps.contains(**p)).collect();
    assert!(leaked.is_empty(), "edgegate-core reaches {leaked:?}");
}

#[test]
fn the_core_reads_no_clock_and_draws_no_randomness() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/edgegate-core/src");
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
    let meta = metadata();
    for member in meta["workspace_members"].as_array().unwrap() {
        let id = member.as_str().unwrap();
        let package = meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap();
        let name = package["name"].as_str().unwrap();
        if name == "edgegate" {
            continue;
        }
        let deps = reachable(&meta, name);
        assert!(!deps.contains("worker"), "{name} depends on worker");
    }
}
