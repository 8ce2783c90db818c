//! The operator's audit log: who changed what, when, from what to what.
//!
//! The coordinator records an entry per changed field of every config change, and one per
//! revocation, so that after an evening's event anyone can see which operator paused the room or
//! lowered the rate, and when. Entries are plain JSON values so a field added to
//! [`RoomConfig`] later is audited without touching this module.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::RoomConfig;
use crate::time::UnixMs;

/// Entries kept; the oldest are dropped past it. Ten thousand changes is far more than any
/// event's operators make, and keeps `GET /admin/audit` under a few megabytes.
pub const AUDIT_KEEP: u64 = 10_000;
/// The header naming the operator who made a change.
pub const OPERATOR_HEADER: &str = "Edgegate-Operator";
/// Who a change is put down to when the request does not say, or says it unreadably.
pub const ANONYMOUS: &str = "operator";
/// Longest operator name kept, in characters.
pub const OPERATOR_MAX_CHARS: usize = 64;

/// One change, as `GET /admin/audit` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: UnixMs,
    pub who: String,
    /// The config field's name, or `"revoke"`.
    pub what: String,
    pub from: Value,
    pub to: Value,
    /// Why, when the room changed it itself (the autopilot, [`AUTOPILOT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// Who the autopilot's changes are put down to.
pub const AUTOPILOT: &str = "autopilot";

/// The operator's name from the `Edgegate-Operator` header: trimmed, at most
/// [`OPERATOR_MAX_CHARS`] characters, none of them a control character nor one that is
/// invisible or turns the direction of the text ([`hidden`]), else [`ANONYMOUS`]. A name
/// that would not fit is not cut short: a cut name could pass for another operator's, and so
/// could one with a hidden character in it, or one that reads backwards.
pub fn operator(header: Option<&str>) -> String {
    header
        .map(str::trim)
        .filter(|name| {
            !name.is_empty()
                && name.chars().count() <= OPERATOR_MAX_CHARS
                && !name.chars().any(|c| c.is_control() || hidden(c))
        })
        .unwrap_or(ANONYMOUS)
        .to_owned()
}

/// Is `c` a character that shows nothing, or changes how the text around it is shown: the
/// zero-width ones, the bidirectional marks, embeddings, overrides and isolates, the word
/// joiner and invisible operators, the byte-order mark, soft hyphen, the Hangul and other
/// fillers that render blank, and the tag characters?
pub fn hidden(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// The entries for a change of config from `before` to `after`: one per field whose value
/// differs, in field order.
pub fn config_changes(
    before: &RoomConfig,
    after: &RoomConfig,
    who: &str,
    at: UnixMs,
) -> Vec<AuditEntry> {
    let (Ok(Value::Object(old)), Ok(Value::Object(new))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return Vec::new();
    };
    new.into_iter()
        .filter_map(|(field, to)| {
            let from = old.get(&field).cloned().unwrap_or(Value::Null);
            (from != to).then(|| AuditEntry {
                at,
                who: who.to_owned(),
                what: field,
                from,
                to,
                why: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
    use super::*;
    use serde_json::json;

    const T0: UnixMs = UnixMs(1_700_000_000_000);

    #[test]
    fn only_changed_fields_are_entered_with_from_and_to() {
        let before = RoomConfig::default();
        let after = RoomConfig {
            new_users_per_minute: 120,
            paused: true,
            opens_at: Some(T0),
            ..before.clone()
        };
        let entries = config_changes(&before, &after, "kim", T0);
        let seen: Vec<(&str, &Value, &Value)> = entries
            .iter()
            .map(|e| (e.what.as_str(), &e.from, &e.to))
            .collect();
        assert_eq!(seen.len(), 3, "{entries:?}");
        assert!(seen.contains(&("new_users_per_minute", &json!(60), &json!(120))));
        assert!(seen.contains(&("paused", &json!(false), &json!(true))));
        assert!(seen.contains(&("opens_at", &Value::Null, &json!(T0.0))));
        assert!(entries.iter().all(|e| e.who == "kim" && e.at == T0));
    }

    #[test]
    fn no_change_enters_nothing() {
        let config = RoomConfig::default();
        assert!(config_changes(&config, &config, "kim", T0).is_empty());
    }

    #[test]
    fn the_operator_is_named_only_by_a_readable_header() {
        assert_eq!(operator(Some("  Kim Min-ji ")), "Kim Min-ji");
        assert_eq!(operator(Some("김민지")), "김민지");
        assert_eq!(operator(None), ANONYMOUS);
        assert_eq!(operator(Some("   ")), ANONYMOUS);
        assert_eq!(operator(Some("a\u{7}b")), ANONYMOUS);
        assert_eq!(operator(Some(&"x".repeat(64))), "x".repeat(64));
        assert_eq!(operator(Some(&"x".repeat(65))), ANONYMOUS);
    }
}
