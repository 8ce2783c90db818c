//! The booking domain: centres, the daily schedule, slot ids, and the seed data.
//!
//! Slots are not stored ahead of time. Every centre offers the same hourly schedule
//! ([`SLOT_HOURS`]) on every day of the booking window ([`BOOKING_DAYS`] days from today, in
//! Korean time); a slot's id names its centre, date and hour, so it is valid without a row. A
//! row appears in `slots` only when the slot is first booked (or its capacity is set), which keeps
//! reads read-only and the seed independent of the date the database was created.

use std::fmt;

use serde::Serialize;

use crate::date::Date;

/// Slot start hours, every day: 09:00 to 17:00.
pub const SLOT_HOURS: std::ops::RangeInclusive<u8> = 9..=17;
/// How many days can be booked: today and the next 13.
pub const BOOKING_DAYS: u8 = 14;
/// Doses a citizen can book.
pub const DOSES: std::ops::RangeInclusive<u8> = 1..=4;

/// A vaccination centre. The list is fixed at seed time and held in memory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Centre {
    pub id: u32,
    pub name_ko: String,
    pub name_en: String,
    pub city_ko: String,
    pub city_en: String,
    pub district_ko: String,
    pub district_en: String,
    /// Seats in each slot unless a slot's own capacity was set.
    pub capacity_per_slot: u32,
}

/// One bookable hour at one centre: `{centre}-{YYYYMMDD}-{HHMM}`, e.g. `7-20210712-0900`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlotId {
    pub centre_id: u32,
    pub date: Date,
    pub hour: u8,
}

impl SlotId {
    /// Parses the text form. Checks the shape and the schedule only, not the centre or the window.
    pub fn parse(text: &str) -> Option<SlotId> {
        let mut parts = text.split('-');
        let centre = parts.next()?;
        let date = parts.next()?;
        let time = parts.next()?;
        if parts.next().is_some()
            || centre.is_empty()
            || !centre.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let centre_id = centre.parse().ok()?;
        let date = Date::parse_compact(date)?;
        if time.len() != 4
            || !time.bytes().all(|b| b.is_ascii_digit())
            || time.get(2..) != Some("00")
        {
            return None;
        }
        let hour: u8 = time.get(..2)?.parse().ok()?;
        SLOT_HOURS.contains(&hour).then_some(SlotId {
            centre_id,
            date,
            hour,
        })
    }

    /// The start time, `HH:MM`.
    pub fn time(&self) -> String {
        format!("{:02}:00", self.hour)
    }

    /// Is this slot's date inside the booking window that starts on `today`?
    pub fn in_window(&self, today: Date) -> bool {
        in_window(self.date, today)
    }
}

impl fmt::Display for SlotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{:02}00",
            self.centre_id,
            self.date.compact(),
            self.hour
        )
    }
}

/// Is `date` bookable when it is `today` in Korea?
pub fn in_window(date: Date, today: Date) -> bool {
    let ahead = date.days_since(today);
    (0..i64::from(BOOKING_DAYS)).contains(&ahead)
}

/// The dates of the booking window starting on `today`.
pub fn window(today: Date) -> Vec<Date> {
    (0..i64::from(BOOKING_DAYS))
        .filter_map(|n| today.plus_days(n))
        .collect()
}

/// A slot with its seats: the schedule merged with any stored row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub id: SlotId,
    pub capacity: u32,
    pub booked: u32,
}

impl Slot {
    pub fn remaining(&self) -> u32 {
        self.capacity.saturating_sub(self.booked)
    }
}

/// A stored booking, without anything about the person: their identity is only a keyed hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booking {
    pub id: String,
    pub slot: SlotId,
    pub dose: u8,
}

/// The seed: (city ko, city en, district ko, district en, seats per slot). Names follow the
/// pattern of the 2021 centres ("<district> 예방접종센터"). Centre ids are the 1-based positions.
/// Two centres are deliberately tiny (세종 2 seats, 서귀포 1 seat) so "full" is easy to reach.
const SEED: &[(&str, &str, &str, &str, u32)] = &[
    ("서울", "Seoul", "중구", "Jung-gu", 30),
    ("서울", "Seoul", "강남구", "Gangnam-gu", 30),
    ("서울", "Seoul", "송파구", "Songpa-gu", 30),
    ("서울", "Seoul", "마포구", "Mapo-gu", 24),
    ("서울", "Seoul", "노원구", "Nowon-gu", 24),
    ("부산", "Busan", "해운대구", "Haeundae-gu", 24),
    ("부산", "Busan", "부산진구", "Busanjin-gu", 24),
    ("부산", "Busan", "사하구", "Saha-gu", 20),
    ("대구", "Daegu", "수성구", "Suseong-gu", 24),
    ("대구", "Daegu", "달서구", "Dalseo-gu", 20),
    ("인천", "Incheon", "남동구", "Namdong-gu", 24),
    ("인천", "Incheon", "연수구", "Yeonsu-gu", 20),
    ("광주", "Gwangju", "서구", "Seo-gu", 20),
    ("광주", "Gwangju", "북구", "Buk-gu", 20),
    ("대전", "Daejeon", "유성구", "Yuseong-gu", 20),
    ("대전", "Daejeon", "서구", "Seo-gu", 20),
    ("울산", "Ulsan", "남구", "Nam-gu", 20),
    ("세종", "Sejong", "보람동", "Boram-dong", 2),
    ("수원", "Suwon", "영통구", "Yeongtong-gu", 20),
    ("수원", "Suwon", "팔달구", "Paldal-gu", 16),
    ("성남", "Seongnam", "분당구", "Bundang-gu", 20),
    ("고양", "Goyang", "일산동구", "Ilsandong-gu", 16),
    ("창원", "Changwon", "성산구", "Seongsan-gu", 20),
    ("전주", "Jeonju", "완산구", "Wansan-gu", 16),
    ("청주", "Cheongju", "상당구", "Sangdang-gu", 16),
    ("천안", "Cheonan", "서북구", "Seobuk-gu", 16),
    ("포항", "Pohang", "남구", "Nam-gu", 12),
    ("춘천", "Chuncheon", "효자동", "Hyoja-dong", 12),
    ("제주", "Jeju", "제주시", "Jeju-si", 16),
    ("제주", "Jeju", "서귀포시", "Seogwipo-si", 1),
];

/// The seed centres, in id order. Deterministic: the same list every time.
pub fn seed_centres() -> Vec<Centre> {
    SEED.iter()
        .zip(1u32..)
        .map(
            |(&(city_ko, city_en, district_ko, district_en, capacity), id)| Centre {
                id,
                name_ko: format!("{city_ko} {district_ko} 예방접종센터"),
                name_en: format!("{city_en} {district_en} Vaccination Centre"),
                city_ko: city_ko.to_owned(),
                city_en: city_en.to_owned(),
                district_ko: district_ko.to_owned(),
                district_en: district_en.to_owned(),
                capacity_per_slot: capacity,
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_ids_round_trip_and_refuse_off_schedule_times() {
        let id = SlotId::parse("7-20210712-0900").unwrap();
        assert_eq!(id.centre_id, 7);
        assert_eq!(id.time(), "09:00");
        assert_eq!(id.to_string(), "7-20210712-0900");
        for bad in [
            "7-20210712-0930",
            "7-20210712-0800",
            "7-20210712-1800",
            "7-20210230-0900",
            "-20210712-0900",
            "x-20210712-0900",
            "7-20210712-0900-1",
            "7-20210712",
            "",
        ] {
            assert_eq!(SlotId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_window_is_today_and_the_next_thirteen_days() {
        let today = Date::new(2021, 7, 12).unwrap();
        let days = window(today);
        assert_eq!(days.len(), 14);
        assert_eq!(days.first(), Some(&today));
        assert_eq!(days.last().copied(), Date::new(2021, 7, 25));
        assert!(in_window(today, today));
        assert!(!in_window(Date::new(2021, 7, 26).unwrap(), today));
        assert!(!in_window(Date::new(2021, 7, 11).unwrap(), today));
    }

    #[test]
    fn the_seed_is_thirty_centres_with_two_tiny_ones() {
        let centres = seed_centres();
        assert_eq!(centres.len(), 30);
        assert_eq!(centres.first().map(|c| c.id), Some(1));
        assert_eq!(centres.get(17).map(|c| c.capacity_per_slot), Some(2));
        assert_eq!(centres.get(29).map(|c| c.capacity_per_slot), Some(1));
    }
}
