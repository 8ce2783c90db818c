//! Writing results, and the small formatting every view shares.

use std::io::{self, Write};

use serde_json::Value;

/// Writes `text` and a newline to stdout. A closed pipe (`edgegate report --csv | head`) is not
/// an error worth reporting, so it is ignored, as is any other failure to write: there is nowhere
/// left to say it.
pub fn say(text: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

/// Writes raw bytes (escape sequences included) without a newline.
pub fn draw(text: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Prints a JSON value for machines, indented for the humans who read it anyway.
pub fn json(value: &Value) {
    say(&serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

/// Reads a number at a JSON pointer, if it is one.
pub fn num(value: &Value, pointer: &str) -> Option<u64> {
    value.pointer(pointer).and_then(Value::as_u64)
}

pub fn flag(value: &Value, pointer: &str) -> Option<bool> {
    value.pointer(pointer).and_then(Value::as_bool)
}

/// `1234567` as `1,234,567`: counts in a waiting room get large enough to misread.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count that may be missing from the gate's answer.
pub fn count(n: Option<u64>) -> String {
    n.map_or_else(|| "?".to_owned(), grouped)
}

/// A JSON value as a person reads it: strings without quotes, the rest compact.
pub fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "none".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
