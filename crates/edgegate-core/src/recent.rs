//! A bounded memory of token texts already authenticated.
//!
//! A waiting citizen polls every few seconds with the same ticket, and each poll used to check
//! its MAC again: SHA-256 in software, the largest part of deciding a poll. Whether a text
//! authenticates under a ring never changes, so an isolate may remember the answer; what does
//! change (the room asked about, the clock) is checked on every use by the token's own
//! `in_scope`. Only texts that authenticated are remembered: a forged one costs its MAC check
//! every time, as before, and takes no memory.

use std::collections::BTreeMap;

/// Two generations of remembered texts. A text found in the old one is carried into the new
/// one; when the new one is full it becomes the old one and the old one is dropped. So at most
/// twice `per_generation` texts are held, and a text used at least once per generation stays.
///
/// Texts are filed by their last eight bytes ([`filed_under`]): every token of a room begins
/// with the same thirty or so characters (version, kind, key, room, a time-ordered key), while
/// its end is its MAC's. So a lookup compares integers, not long shared prefixes; the whole
/// text is compared before anything remembered is answered. Two texts filed alike (which an
/// attacker cannot arrange short of minting millions of tokens) only displace each other.
#[derive(Debug)]
pub struct Recent<T> {
    per_generation: usize,
    new: BTreeMap<u64, (Box<str>, T)>,
    old: BTreeMap<u64, (Box<str>, T)>,
}

impl<T: Clone> Recent<T> {
    /// A memory of at most `2 × per_generation` texts (at least one per generation).
    pub fn new(per_generation: usize) -> Recent<T> {
        Recent {
            per_generation: per_generation.max(1),
            new: BTreeMap::new(),
            old: BTreeMap::new(),
        }
    }

    /// What `text` authenticated to when last asked, or else `authenticate(text)`, remembered
    /// when it is `Ok`. `authenticate` must answer the same for the same text every time (the
    /// caller keeps one memory per key ring).
    pub fn get_or_authenticate<E>(
        &mut self,
        text: &str,
        authenticate: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, E> {
        let key = filed_under(text);
        let remembered = |generation: &BTreeMap<u64, (Box<str>, T)>| {
            generation
                .get(&key)
                .filter(|(known, _)| **known == *text)
                .map(|(_, value)| value.clone())
        };
        if let Some(value) = remembered(&self.new) {
            return Ok(value);
        }
        // Found in the old generation, it is copied rather than moved: the old one is dropped
        // whole soon enough, and a map that only grows is far less code in wasm.
        let value = match remembered(&self.old) {
            Some(value) => value,
            None => authenticate(text)?,
        };
        if self.new.len() >= self.per_generation {
            self.old = std::mem::take(&mut self.new);
        }
        self.new.insert(key, (text.into(), value.clone()));
        Ok(value)
    }

    /// How many texts are remembered now.
    pub fn len(&self) -> usize {
        self.new.len() + self.old.len()
    }

    /// Is nothing remembered?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The key a text is filed under: its last eight bytes.
fn filed_under(text: &str) -> u64 {
    text.bytes()
        .rev()
        .take(8)
        .fold(0, |key, byte| key << 8 | u64::from(byte))
}

#[cfg(test)]
mod tests {
    use super::Recent;
    use std::cell::Cell;

    /// An "authenticator" that counts its calls and accepts texts starting with `ok`.
    fn counting(calls: &Cell<u32>) -> impl Fn(&str) -> Result<String, ()> + '_ {
        move |t: &str| {
            calls.set(calls.get() + 1);
            if t.starts_with("ok") {
                Ok(t.to_uppercase())
            } else {
                Err(())
            }
        }
    }

    #[test]
    fn a_remembered_text_is_not_authenticated_again() {
        let calls = Cell::new(0);
        let mut recent = Recent::new(4);
        assert_eq!(
            recent.get_or_authenticate("ok-a", counting(&calls)),
            Ok("OK-A".into())
        );
        assert_eq!(
            recent.get_or_authenticate("ok-a", counting(&calls)),
            Ok("OK-A".into())
        );
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn a_failed_text_is_checked_every_time_and_never_held() {
        let calls = Cell::new(0);
        let mut recent = Recent::<String>::new(4);
        for _ in 0..3 {
            assert_eq!(
                recent.get_or_authenticate("forged", counting(&calls)),
                Err(())
            );
        }
        assert_eq!(calls.get(), 3);
        assert!(recent.is_empty());
    }

    #[test]
    fn memory_stays_under_two_generations_and_keeps_texts_in_use() {
        let calls = Cell::new(0);
        let mut recent = Recent::new(3);
        for i in 0..100 {
            // One text asked for all along, among a stream of new ones.
            recent
                .get_or_authenticate("ok-kept", counting(&calls))
                .unwrap_or_default();
            recent
                .get_or_authenticate(&format!("ok-{i}"), counting(&calls))
                .unwrap_or_default();
            assert!(recent.len() <= 6, "{} texts held", recent.len());
        }
        // The kept text was authenticated once; each new one once.
        assert_eq!(calls.get(), 101);
    }

    #[test]
    fn texts_with_the_same_ending_are_told_apart() {
        let calls = Cell::new(0);
        let mut recent = Recent::new(4);
        let (a, b) = ("ok-1 same end", "ok-2 same end");
        assert_eq!(
            recent.get_or_authenticate(a, counting(&calls)),
            Ok("OK-1 SAME END".into())
        );
        assert_eq!(
            recent.get_or_authenticate(b, counting(&calls)),
            Ok("OK-2 SAME END".into())
        );
        assert_eq!(
            recent.get_or_authenticate(a, counting(&calls)),
            Ok("OK-1 SAME END".into())
        );
        // A forgery that ends like a remembered text is still checked, and refused.
        assert_eq!(
            recent.get_or_authenticate("no-3 same end", counting(&calls)),
            Err(())
        );
        assert_eq!(calls.get(), 4);
    }

    #[test]
    fn a_text_dropped_with_its_generation_is_authenticated_anew() {
        let calls = Cell::new(0);
        let mut recent = Recent::new(1);
        for t in ["ok-a", "ok-b", "ok-c", "ok-a"] {
            recent
                .get_or_authenticate(t, counting(&calls))
                .unwrap_or_default();
        }
        assert_eq!(calls.get(), 4);
    }
}
