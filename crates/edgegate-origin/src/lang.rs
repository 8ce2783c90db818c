//! Page language: Korean by default, English when asked for, and every visible string in both.
//!
//! `?lang=en|ko` wins and is carried on the page's own links; otherwise the browser's
//! `Accept-Language` decides between the two (highest q-value, earlier entry on a tie), and
//! anything else falls back to Korean.

use axum::http::HeaderMap;

use crate::date::Date;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Ko,
    En,
}

/// The page language and whether the visitor chose it with `?lang=` (then links keep it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LangChoice {
    pub lang: Lang,
    pub explicit: bool,
}

impl LangChoice {
    /// From the `lang` query parameter, else the `Accept-Language` header.
    pub fn negotiate(query_lang: Option<&str>, headers: &HeaderMap) -> LangChoice {
        if let Some(lang) = query_lang.and_then(Lang::from_code) {
            return LangChoice {
                lang,
                explicit: true,
            };
        }
        let header = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        LangChoice {
            lang: from_accept_language(header),
            explicit: false,
        }
    }

    /// `?lang=xx` to append to this page's own links, or nothing.
    pub fn link_suffix(self, first: bool) -> String {
        if !self.explicit {
            return String::new();
        }
        let sep = if first { '?' } else { '&' };
        format!("{sep}lang={}", self.lang.code())
    }
}

impl Lang {
    pub fn from_code(code: &str) -> Option<Lang> {
        match code {
            "ko" => Some(Lang::Ko),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The BCP 47 code for `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Ko => Lang::En,
            Lang::En => Lang::Ko,
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Ko => &KO,
            Lang::En => &EN,
        }
    }

    /// "7월 12일 (월)" / "Mon 12 Jul".
    pub fn short_date(self, date: Date) -> String {
        const KO_DAYS: [&str; 7] = ["월", "화", "수", "목", "금", "토", "일"];
        const EN_DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const EN_MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let weekday = usize::from(date.weekday());
        match self {
            Lang::Ko => format!(
                "{}월 {}일 ({})",
                date.month(),
                date.day(),
                KO_DAYS.get(weekday).unwrap_or(&"")
            ),
            Lang::En => format!(
                "{} {} {}",
                EN_DAYS.get(weekday).unwrap_or(&""),
                date.day(),
                EN_MONTHS
                    .get(usize::from(date.month()).saturating_sub(1))
                    .unwrap_or(&"")
            ),
        }
    }

    /// "2021년 7월 12일 (월)" / "Mon 12 Jul 2021".
    pub fn long_date(self, date: Date) -> String {
        match self {
            Lang::Ko => format!("{}년 {}", date.year(), self.short_date(date)),
            Lang::En => format!("{} {}", self.short_date(date), date.year()),
        }
    }

    /// "1차" / "Dose 1".
    pub fn dose(self, dose: u8) -> String {
        match self {
            Lang::Ko => format!("{dose}차"),
            Lang::En => format!("Dose {dose}"),
        }
    }

    /// "잔여 3석" / "3 seats left".
    pub fn seats_left(self, n: u32) -> String {
        match self {
            Lang::Ko => format!("잔여 {n}석"),
            Lang::En if n == 1 => "1 seat left".to_owned(),
            Lang::En => format!("{n} seats left"),
        }
    }
}

fn from_accept_language(header: &str) -> Lang {
    let mut best: Option<(Lang, u32)> = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let primary = tag.split('-').next().unwrap_or("");
        let Some(lang) = Lang::from_code(primary) else {
            continue;
        };
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .map_or(Some(1000), parse_q)
            .unwrap_or(0);
        if q > 0 && best.is_none_or(|(_, top)| q > top) {
            best = Some((lang, q));
        }
    }
    best.map_or(Lang::Ko, |(lang, _)| lang)
}

/// A q-value in thousandths (`0.8` → 800), or `None` if unreadable.
fn parse_q(text: &str) -> Option<u32> {
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u32 = whole.parse().ok()?;
    let frac_value: u32 = format!("{frac:0<3}").parse().ok()?;
    let q = whole.checked_mul(1000)?.checked_add(frac_value)?;
    (q <= 1000).then_some(q)
}

/// Every fixed string a page shows.
pub struct Texts {
    pub site: &'static str,
    pub switch_label: &'static str,
    pub lang_nav: &'static str,
    pub home_h1: &'static str,
    pub home_intro: &'static str,
    pub back_to_centres: &'static str,
    pub dates_nav: &'static str,
    pub times_heading: &'static str,
    pub slot_legend: &'static str,
    pub full: &'static str,
    pub no_slots: &'static str,
    pub details_heading: &'static str,
    pub name_label: &'static str,
    pub birth_label: &'static str,
    pub dose_label: &'static str,
    pub submit: &'static str,
    pub confirmed_h1: &'static str,
    pub booking_h1: &'static str,
    pub booking_id: &'static str,
    pub centre: &'static str,
    pub date: &'static str,
    pub time: &'static str,
    pub dose: &'static str,
    pub keep_id: &'static str,
    pub not_found_h1: &'static str,
    pub not_found_body: &'static str,
    pub refused_h1: &'static str,
    pub refused_body: &'static str,
    pub error_h1: &'static str,
    pub bad_request_body: &'static str,
    pub internal_body: &'static str,
    pub footer: &'static str,
    pub err_slot: &'static str,
    pub err_name: &'static str,
    pub err_birth: &'static str,
    pub err_dose: &'static str,
    pub err_slot_full: &'static str,
    pub err_already_booked: &'static str,
    pub err_ticket_used: &'static str,
    pub err_key_reused: &'static str,
}

static KO: Texts = Texts {
    site: "백신 예약",
    switch_label: "English",
    lang_nav: "언어",
    home_h1: "백신 예약 · 접종 기관 선택",
    home_intro: "접종받을 기관을 선택하세요. 날짜와 시간은 다음 화면에서 고릅니다.",
    back_to_centres: "다른 접종 기관 선택",
    dates_nav: "날짜 선택",
    times_heading: "예약 가능 시간",
    slot_legend: "시간",
    full: "마감",
    no_slots: "이 날짜에는 남은 자리가 없습니다. 다른 날짜를 선택해 주세요.",
    details_heading: "접종자 정보",
    name_label: "이름",
    birth_label: "생년월일",
    dose_label: "차수",
    submit: "예약하기",
    confirmed_h1: "예약이 완료되었습니다",
    booking_h1: "예약 내역",
    booking_id: "예약 번호",
    centre: "접종 기관",
    date: "날짜",
    time: "시간",
    dose: "차수",
    keep_id: "예약 번호를 보관하세요. 접종 당일 신분증과 함께 알려 주시면 됩니다.",
    not_found_h1: "페이지를 찾을 수 없습니다",
    not_found_body: "주소를 다시 확인하거나 접종 기관 목록에서 시작해 주세요.",
    refused_h1: "요청이 거부되었습니다",
    refused_body: "다른 사이트에서 보낸 예약 요청은 받지 않습니다. 이 사이트의 예약 화면에서 다시 시도해 주세요.",
    error_h1: "요청을 처리하지 못했습니다",
    bad_request_body: "요청 내용을 이해할 수 없습니다. 예약 화면에서 다시 시도해 주세요.",
    internal_body: "일시적인 문제가 발생했습니다. 잠시 후 다시 시도해 주세요.",
    footer: "이 사이트는 대기열 게이트를 거쳐야만 열립니다.",
    err_slot: "예약할 시간을 선택해 주세요.",
    err_name: "이름을 1자 이상 60자 이하로 입력해 주세요.",
    err_birth: "생년월일을 올바른 날짜로 입력해 주세요 (1900년 이후, 오늘 이전).",
    err_dose: "차수를 1차부터 4차 중에서 선택해 주세요.",
    err_slot_full: "선택한 시간은 예약이 모두 찼습니다. 다른 시간을 선택해 주세요.",
    err_already_booked: "이미 같은 차수의 예약이 있습니다. 한 사람은 차수마다 한 번만 예약할 수 있습니다.",
    err_ticket_used: "이 입장권으로는 이미 예약했습니다. 다른 예약은 대기열에 다시 들어와 진행해 주세요.",
    err_key_reused: "이 양식은 이미 다른 내용으로 제출되었습니다. 내용을 확인하고 다시 제출해 주세요.",
};

static EN: Texts = Texts {
    site: "Vaccine booking",
    switch_label: "한국어",
    lang_nav: "Language",
    home_h1: "Vaccine booking · Choose a centre",
    home_intro: "Choose the centre where you want to be vaccinated. You pick the date and time next.",
    back_to_centres: "Choose another centre",
    dates_nav: "Choose a date",
    times_heading: "Available times",
    slot_legend: "Time",
    full: "Full",
    no_slots: "No seats are left on this day. Please choose another date.",
    details_heading: "Your details",
    name_label: "Name",
    birth_label: "Birth date",
    dose_label: "Dose",
    submit: "Book",
    confirmed_h1: "Booking confirmed",
    booking_h1: "Your booking",
    booking_id: "Booking number",
    centre: "Centre",
    date: "Date",
    time: "Time",
    dose: "Dose",
    keep_id: "Keep this booking number. Give it with your ID on the day.",
    not_found_h1: "Page not found",
    not_found_body: "Check the address, or start again from the list of centres.",
    refused_h1: "Request refused",
    refused_body: "Booking requests sent from another site are not accepted. Please book from this site's own form.",
    error_h1: "We could not handle that request",
    bad_request_body: "The request could not be understood. Please try again from the booking form.",
    internal_body: "Something went wrong on our side. Please try again shortly.",
    footer: "This site opens only through the waiting-room gate.",
    err_slot: "Choose an available time.",
    err_name: "Enter a name of 1 to 60 characters.",
    err_birth: "Enter a real birth date (from 1900, not in the future).",
    err_dose: "Choose a dose from 1 to 4.",
    err_slot_full: "That time is fully booked. Please choose another time.",
    err_already_booked: "This person has already booked this dose. Each dose can be booked once.",
    err_ticket_used: "This pass has already been used for a booking. Please queue again for another booking.",
    err_key_reused: "This form was already sent with different details. Please check them and send it again.",
};

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn pick(query: Option<&str>, accept: &str) -> LangChoice {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::ACCEPT_LANGUAGE,
            HeaderValue::from_str(accept).unwrap(),
        );
        LangChoice::negotiate(query, &headers)
    }

    #[test]
    fn accept_language_picks_between_korean_and_english() {
        for (accept, want) in [
            ("", Lang::Ko),
            ("en-US,en;q=0.9", Lang::En),
            ("ko-KR,ko;q=0.9,en-US;q=0.8", Lang::Ko),
            ("fr-FR,en;q=0.5,ko;q=0.4", Lang::En),
            ("fr", Lang::Ko),
            ("en;q=0, ko", Lang::Ko),
            ("ko;q=0.5, EN;q=0.7", Lang::En),
            ("en;q=abc", Lang::Ko),
        ] {
            assert_eq!(pick(None, accept).lang, want, "{accept:?}");
        }
    }

    #[test]
    fn the_query_wins_and_is_kept_on_links() {
        let choice = pick(Some("en"), "ko");
        assert_eq!(choice.lang, Lang::En);
        assert_eq!(choice.link_suffix(true), "?lang=en");
        assert_eq!(pick(Some("xx"), "ko").link_suffix(true), "");
    }

    #[test]
    fn dates_read_naturally() {
        let d = Date::new(2021, 7, 12).unwrap();
        assert_eq!(Lang::Ko.short_date(d), "7월 12일 (월)");
        assert_eq!(Lang::En.long_date(d), "Mon 12 Jul 2021");
    }
}
