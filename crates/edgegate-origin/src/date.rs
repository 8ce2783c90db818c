//! Calendar dates in Korea Standard Time: parsing `YYYY-MM-DD`, "today", and day arithmetic.
//!
//! The booking site lives in one time zone (KST, UTC+9, no daylight saving), so a date is a plain
//! proleptic-Gregorian civil date and "today" is `now` shifted by nine hours. Day numbers count
//! from 1970-01-01 (the civil-from-days conversion of Howard Hinnant's date algorithms). Years
//! are limited to 1..=9999 so every conversion stays total without lossy casts.

use std::fmt;

use edgegate_core::UnixMs;

/// Korea Standard Time's offset from UTC, in milliseconds.
pub const KST_OFFSET_MS: u64 = 9 * 60 * 60 * 1000;
const MS_PER_DAY: u64 = 24 * 60 * 60 * 1000;

/// A civil date (no time, no zone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// The date, if it exists (1 ≤ year ≤ 9999, a real month and day).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) {
            return None;
        }
        if day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// Parses exactly `YYYY-MM-DD` (ASCII digits, zero-padded); `None` for anything else,
    /// including impossible dates like 2021-02-30.
    pub fn parse(text: &str) -> Option<Date> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
            return None;
        }
        let number = |range: std::ops::Range<usize>| -> Option<u16> {
            let part = text.get(range)?;
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        let month = u8::try_from(number(5..7)?).ok()?;
        let day = u8::try_from(number(8..10)?).ok()?;
        Date::new(number(0..4)?, month, day)
    }

    /// Parses the compact `YYYYMMDD` form used inside slot ids.
    pub fn parse_compact(text: &str) -> Option<Date> {
        if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year = text.get(0..4)?.parse().ok()?;
        let month = text.get(4..6)?.parse().ok()?;
        let day = text.get(6..8)?.parse().ok()?;
        Date::new(year, month, day)
    }

    /// The date in Korea at instant `now`.
    pub fn today_in_korea(now: UnixMs) -> Date {
        let days = now.0.saturating_add(KST_OFFSET_MS) / MS_PER_DAY;
        // u64 milliseconds / a day always fits in i64 and lands within year 9999 until the
        // year 584 million; the fallback only keeps this total.
        i64::try_from(days)
            .ok()
            .and_then(Date::from_days)
            .unwrap_or(Date {
                year: 9999,
                month: 12,
                day: 31,
            })
    }

    /// The date `days` days after 1970-01-01 (negative: before), if within years 1..=9999.
    pub fn from_days(days: i64) -> Option<Date> {
        let z = days.checked_add(719_468)?;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date::new(
            u16::try_from(year).ok()?,
            u8::try_from(month).ok()?,
            u8::try_from(day).ok()?,
        )
    }

    /// Days since 1970-01-01 (negative before it).
    pub fn days(self) -> i64 {
        let month = i64::from(self.month);
        let year = i64::from(self.year) - i64::from(month <= 2);
        let era = year.div_euclid(400);
        let yoe = year.rem_euclid(400);
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// This date moved by `days` (may be negative); `None` outside years 1..=9999.
    pub fn plus_days(self, days: i64) -> Option<Date> {
        Date::from_days(self.days().checked_add(days)?)
    }

    /// Day of the week, 0 = Monday … 6 = Sunday.
    pub fn weekday(self) -> u8 {
        // 1970-01-01 was a Thursday (3).
        u8::try_from((self.days() + 3).rem_euclid(7)).unwrap_or(0)
    }

    pub fn year(self) -> u16 {
        self.year
    }

    pub fn month(self) -> u8 {
        self.month
    }

    pub fn day(self) -> u8 {
        self.day
    }

    /// `YYYYMMDD`, as slot ids carry it.
    pub fn compact(self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Display for Date {
    /// `YYYY-MM-DD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
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
    fn day_numbers_round_trip_and_weekdays_are_right() {
        let epoch = Date::new(1970, 1, 1).unwrap();
        assert_eq!(epoch.days(), 0);
        assert_eq!(epoch.weekday(), 3); // Thursday
        let d = Date::new(2021, 7, 12).unwrap();
        assert_eq!(d.weekday(), 0); // Monday
        assert_eq!(Date::from_days(d.days()), Some(d));
        for days in (-700_000..2_900_000).step_by(997) {
            let date = Date::from_days(days).unwrap();
            assert_eq!(date.days(), days);
        }
        assert_eq!(
            Date::new(2021, 12, 31).unwrap().plus_days(1),
            Date::new(2022, 1, 1)
        );
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
