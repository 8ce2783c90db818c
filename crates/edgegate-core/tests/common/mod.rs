//! What the integration tests share: a tiny deterministic generator, so a test's scenario is a
//! handful of numbers proptest can shrink and the events they describe are reproducible; and
//! the properties' configuration.

use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence};

/// `cases` per property unless `PROPTEST_CASES` says otherwise, and the failures found kept in
/// git under `tests/proptest-regressions/NAME.txt`.
#[allow(dead_code, reason = "each test crate uses the part it needs")]
pub fn proptest_config(regressions: &'static str, cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        ..ProptestConfig::default()
    }
}

/// splitmix64.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

#[allow(dead_code, reason = "each test crate uses the part it needs")]
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }

    /// `base` spread by ±15 %.
    pub fn jittered(&mut self, base: u64) -> u64 {
        base * self.between(850, 1150) / 1000
    }
}
