//! Times as operators type them and as the gate keeps them (unix milliseconds).
//!
//! The gate speaks unix ms only; people think in wall-clock times and in "ten minutes from now".
//! Both are accepted here, and a bare number that is plausibly unix *seconds* is refused rather
//! than read as a date in January 1970.

use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Unix ms below this (1973-03-03) are taken for a mistake: such a number is almost surely
/// seconds, which would schedule an opening half a century ago.
const SMALLEST_PLAUSIBLE_MS: u64 = 100_000_000_000;

/// The local clock in unix ms (0 if it is before 1970, which no operator's machine is).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Reads a time: RFC 3339, unix milliseconds, `now`, or an offset from now (`+10m`, `-1h`,
/// units s, m, h, d). The error says which forms are accepted.
pub fn parse_time(text: &str, now: u64) -> Result<u64, String> {
    let text = text.trim();
    let hint = "give RFC 3339 (2025-03-01T09:00:00+09:00), unix milliseconds, now, or +10m / -1h";
    if text.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Some(rest) = text.strip_prefix('+') {
        let ms = duration_ms(rest).ok_or_else(|| format!("{text:?} is not a time: {hint}"))?;
        return Ok(now.saturating_add(ms));
    }
    if let Some(rest) = text.strip_prefix('-') {
        let ms = duration_ms(rest).ok_or_else(|| format!("{text:?} is not a time: {hint}"))?;
        return Ok(now.saturating_sub(ms));
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let ms: u64 = text
            .parse()
            .map_err(|_| format!("{text:?} is too large for a time"))?;
        if ms < SMALLEST_PLAUSIBLE_MS {
            return Err(format!(
                "{text} looks like unix seconds; the gate wants milliseconds ({text}000)"
            ));
        }
        return Ok(ms);
    }
    let at = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("{text:?} is not a time ({e}): {hint}"))?;
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| format!("{text:?} is before 1970"))
}

/// Reads a number of seconds with an optional unit: `90`, `90s`, `10m`, `2h`, `1d`.
pub fn parse_seconds(text: &str) -> Option<u64> {
    duration_ms(text).map(|ms| ms / 1000)
}

fn duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit_ms) = match text.char_indices().last()? {
        (at, 's') => (text.get(..at)?, 1_000),
        (at, 'm') => (text.get(..at)?, 60_000),
        (at, 'h') => (text.get(..at)?, 3_600_000),
        (at, 'd') => (text.get(..at)?, 86_400_000),
        _ => (text, 1_000),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(unit_ms)
}

/// A unix-ms time as `2025-03-01 00:00:00Z`: UTC, since the gate and its logs are in UTC.
pub fn utc(ms: u64) -> String {
    let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return format!("{ms} ms");
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// How far `then` is from `now`, in the largest unit that reads naturally: "in 10 min",
/// "3 h ago".
pub fn relative(then: u64, now: u64) -> String {
    let (span, future) = if then >= now {
        (then - now, true)
    } else {
        (now - then, false)
    };
    let secs = span / 1000;
    let amount = match secs {
        0..=119 => format!("{secs} s"),
        120..=7_199 => format!("{} min", secs / 60),
        7_200..=172_799 => format!("{} h", secs / 3_600),
        _ => format!("{} days", secs / 86_400),
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    const NOW: u64 = 1_740_787_200_000; // 2025-03-01 00:00:00Z

    #[test]
    fn every_accepted_form_reads() {
        assert_eq!(parse_time("2025-03-01T09:00:00+09:00", NOW).unwrap(), NOW);
        assert_eq!(
            parse_time("2025-03-01T00:00:00.5Z", NOW).unwrap(),
            NOW + 500
        );
        assert_eq!(parse_time("1740787200000", NOW).unwrap(), NOW);
        assert_eq!(parse_time("now", NOW).unwrap(), NOW);
        assert_eq!(parse_time("+10m", NOW).unwrap(), NOW + 600_000);
        assert_eq!(parse_time("-1h", NOW).unwrap(), NOW - 3_600_000);
        assert_eq!(parse_time("+90", NOW).unwrap(), NOW + 90_000);
    }

    #[test]
    fn seconds_and_nonsense_are_refused_with_the_reason() {
        let seconds = parse_time("1740787200", NOW).unwrap_err();
        assert!(seconds.contains("1740787200000"), "{seconds}");
        for bad in ["tomorrow", "+", "+m", "2025-03-01", "", "+1.5h"] {
            assert!(parse_time(bad, NOW).is_err(), "{bad}");
        }
    }

    #[test]
    fn seconds_take_units() {
        assert_eq!(parse_seconds("600"), Some(600));
        assert_eq!(parse_seconds("10m"), Some(600));
        assert_eq!(parse_seconds("1h"), Some(3_600));
        assert_eq!(parse_seconds("ten"), None);
        assert_eq!(parse_seconds("-5"), None);
    }

    #[test]
    fn times_print_in_utc_and_relative() {
        assert_eq!(utc(NOW), "2025-03-01 00:00:00Z");
        assert_eq!(relative(NOW + 600_000, NOW), "in 10 min");
        assert_eq!(relative(NOW - 30_000, NOW), "30 s ago");
        assert_eq!(relative(NOW + 3 * 86_400_000, NOW), "in 3 days");
    }
}
