//! Calendar dates in Korea Standard Time: parsing `YYYY-MM-DD`, "today", and day arithmetic.
//!
//! The booking site lives in one time zone (KST, UTC+9, no daylight saving), so a date is a plain
//! civil date and "today" is `now` shifted by nine hours. The calendar itself is the `time`
//! crate's; this type adds the strict text forms the site accepts and keeps years to
//! 1..=9999.

use std::fmt;

use edgegate_core::UnixMs;
use time::{Duration, Month, OffsetDateTime};

/// Korea Standard Time's offset from UTC, in milliseconds.
pub const KST_OFFSET_MS: u64 = 9 * 60 * 60 * 1000;

/// A civil date (no time, no zone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(time::Date);

impl Date {
    /// The date, if it exists (1 ≤ year ≤ 9999, a real month and day).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        if !(1..=9999).contains(&year) {
            return None;
        }
        let month = Month::try_from(month).ok()?;
        time::Date::from_calendar_date(i32::from(year), month, day)
            .ok()
            .map(Date)
    }

    /// Parses exactly `YYYY-MM-DD` (ASCII digits, zero-padded); `None` for anything else,
    /// including impossible dates like 2021-02-30.
    pub fn parse(text: &str) -> Option<Date> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
            return None;
        }
        Date::from_digits(text.get(0..4)?, text.get(5..7)?, text.get(8..10)?)
    }

    /// Parses the compact `YYYYMMDD` form used inside slot ids.
    pub fn parse_compact(text: &str) -> Option<Date> {
        if text.len() != 8 {
            return None;
        }
        Date::from_digits(text.get(0..4)?, text.get(4..6)?, text.get(6..8)?)
    }

    fn from_digits(year: &str, month: &str, day: &str) -> Option<Date> {
        let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if !(digits(year) && digits(month) && digits(day)) {
            return None;
        }
        Date::new(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?)
    }

    /// The date in Korea at instant `now`.
    pub fn today_in_korea(now: UnixMs) -> Date {
        let seconds = i64::try_from(now.0.saturating_add(KST_OFFSET_MS) / 1000).unwrap_or(i64::MAX);
        // Past year 9999 (or with an absurd clock) the last representable day stands in.
        OffsetDateTime::from_unix_timestamp(seconds)
            .ok()
            .and_then(|t| Date::within_range(t.date()))
            .unwrap_or(Date(time::Date::MAX))
    }

    /// Whole days from `earlier` to this date (negative if `earlier` is later).
    pub fn days_since(self, earlier: Date) -> i64 {
        (self.0 - earlier.0).whole_days()
    }

    /// This date moved by `days` (may be negative); `None` outside years 1..=9999.
    pub fn plus_days(self, days: i64) -> Option<Date> {
        Date::within_range(self.0.checked_add(Duration::days(days))?)
    }

    /// Years 0 and below exist in `time` but not on this site.
    fn within_range(date: time::Date) -> Option<Date> {
        (date.year() >= 1).then_some(Date(date))
    }

    /// Day of the week, 0 = Monday … 6 = Sunday.
    pub fn weekday(self) -> u8 {
        self.0.weekday().number_days_from_monday()
    }

    pub fn year(self) -> u16 {
        // Within 1..=9999 by construction.
        u16::try_from(self.0.year()).unwrap_or(0)
    }

    pub fn month(self) -> u8 {
        self.0.month().into()
    }

    pub fn day(self) -> u8 {
        self.0.day()
    }

    /// `YYYYMMDD`, as slot ids carry it.
    pub fn compact(self) -> String {
        format!("{:04}{:02}{:02}", self.year(), self.month(), self.day())
    }
}

impl fmt::Display for Date {
    /// `YYYY-MM-DD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.year(),
            self.month(),
            self.day()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_real_dates_in_the_strict_form() {
        assert_eq!(Date::parse("2021-07-12"), Date::new(2021, 7, 12));
        assert_eq!(Date::parse("2020-02-29"), Date::new(2020, 2, 29));
        for bad in [
            "2021-02-29",
            "1900-02-29",
            "2021-13-01",
            "2021-00-10",
            "2021-7-12",
            "2021/07/12",
            "+021-07-12",
            "2021-07-1a",
            "",
            "2021-07-12 ",
            "0000-01-01",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
        assert_eq!(Date::parse("2000-02-29"), Date::new(2000, 2, 29));
        assert_eq!(Date::parse_compact("20210712"), Date::new(2021, 7, 12));
        assert_eq!(Date::parse_compact("2021071"), None);
    }

    #[test]
    fn day_arithmetic_and_weekdays_are_right() {
        let d = Date::new(2021, 7, 12).unwrap();
        assert_eq!(d.weekday(), 0); // Monday
        assert_eq!(Date::new(1970, 1, 1).unwrap().weekday(), 3); // Thursday
        assert_eq!(d.plus_days(13), Date::new(2021, 7, 25));
        assert_eq!(d.plus_days(13).unwrap().days_since(d), 13);
        assert_eq!(d.days_since(d.plus_days(2).unwrap()), -2);
        assert_eq!(
            Date::new(2021, 12, 31).unwrap().plus_days(1),
            Date::new(2022, 1, 1)
        );
        assert_eq!(Date::new(9999, 12, 31).unwrap().plus_days(1), None);
        assert_eq!(d.to_string(), "2021-07-12");
        assert_eq!(d.compact(), "20210712");
    }

    #[test]
    fn today_is_korean_time() {
        // 2021-07-11T15:00:00Z is midnight, 12 July, in Seoul.
        let midnight = UnixMs(1_626_015_600_000);
        assert_eq!(
            Date::today_in_korea(midnight),
            Date::new(2021, 7, 12).unwrap()
        );
        assert_eq!(
            Date::today_in_korea(midnight.minus_ms(1)),
            Date::new(2021, 7, 11).unwrap()
        );
    }
}
