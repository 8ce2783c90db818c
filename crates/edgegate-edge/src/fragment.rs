//! The no-JavaScript status page shown inside the waiting page's `<noscript>` frame: the same
//! facts as `/queue/status`, as a few lines of plain HTML in Korean or English. It reflects
//! nothing from the request but the visitor's own numbers. It never solves the work a new place
//! may cost: its holder's place is taken once `visit::NO_SCRIPT_WAIT_MS` (90 s) have passed
//! since their ticket was issued, at a reload of the waiting page (which the page's `<noscript>`
//! refresh makes every 30 s): two minutes at most, which is what the frame says.

use edgegate_core::status::{QueueStatus, Rejoined};
use edgegate_core::QueueState;

pub fn render(status: &QueueStatus, korean: bool) -> String {
    let line = match (status.state, korean) {
        (QueueState::Admitted, true) => {
            "차례가 되었습니다. 페이지를 새로 고치면 예약 화면으로 이동합니다.".to_owned()
        }
        (QueueState::Admitted, false) => {
            "It's your turn. Refresh the page to go to the booking page.".to_owned()
        }
        (QueueState::Prequeue, true) => {
            "아직 접수 시작 전입니다. 시작 시각에 대기 순서가 공정한 추첨으로 정해집니다."
                .to_owned()
        }
        (QueueState::Prequeue, false) => {
            "Booking has not opened yet. At the opening, the order is set by a fair random draw."
                .to_owned()
        }
        (QueueState::Closed, true) => {
            "지금은 예약을 받지 않습니다. 나중에 다시 와 주세요.".to_owned()
        }
        (QueueState::Closed, false) => {
            "Booking is closed right now. Please come back later.".to_owned()
        }
        (state, korean) => {
            let place = status.position.map_or_else(String::new, |p| {
                if korean {
                    format!("현재 대기 순서: {}번째. ", group(p))
                } else {
                    format!("Your place in line: {}. ", group(p))
                }
            });
            // Work asked: the place is not taken yet, and is kept open for this page a while.
            let work = match (status.work.is_some(), korean) {
                (true, true) => {
                    "약 2분 안에 대기 순서가 확정됩니다. 이 페이지를 닫지 말고 그대로 열어 두세요. "
                }
                (true, false) => {
                    "Your place in line will be confirmed within about two minutes. Please keep this page open. "
                }
                (false, _) => "",
            };
            let taken = status.slots_taken.map(|t| {
                let when = t.next_release_at.map(|at| kst(at.0, korean));
                match (when, korean) {
                    (Some(w), true) => format!(
                        "오늘 예약할 수 있는 자리가 모두 찼습니다. 다음 예약은 {w}에 열립니다. 자리가 다시 생기면 순서대로 진행됩니다. "
                    ),
                    (None, true) => "오늘 예약할 수 있는 자리가 모두 찼습니다. 다음 예약 일정은 아직 정해지지 않았습니다. 자리가 다시 생기면 순서대로 진행됩니다. ".to_owned(),
                    (Some(w), false) => format!(
                        "All of today's slots are taken. The next release is at {w}. If slots come back, the line moves again in order. "
                    ),
                    (None, false) => "All of today's slots are taken. The next release has not been set yet. If slots come back, the line moves again in order. ".to_owned(),
                }
            });
            let work = taken.as_deref().unwrap_or(work);
            let why = match (state, korean) {
                (QueueState::Paused, true) => {
                    "운영자가 잠시 대기열을 멈췄습니다. 순서는 그대로 유지됩니다."
                }
                (QueueState::Paused, false) => {
                    "The line is paused by the operator. Your place is kept."
                }
                _ if status.work.is_some() => "",
                (_, true) => "순서는 그대로 유지됩니다.",
                (_, false) => "Your place is kept.",
            };
            format!("{place}{work}{why}").trim_end().to_owned()
        }
    };
    let line = match (status.readmitted, korean) {
        (true, true) => format!(
            "차례가 되었을 때 예약 사이트에 문제가 있어, 맨 앞 순서로 다시 기다리고 있습니다. {line}"
        ),
        (true, false) => format!(
            "The booking site had a problem when it was your turn: you are back at the front of the line. {line}"
        ),
        (false, _) => line,
    };
    let line = match (status.rejoined, korean) {
        (Some(Rejoined::Lapsed), true) => format!(
            "이전 대기 순서는 오랫동안 확인되지 않아 만료되어, 새로 줄을 섰습니다. {line}"
        ),
        (Some(Rejoined::Lapsed), false) => format!(
            "Your earlier place lapsed because it was not checked for too long; you have joined the line again. {line}"
        ),
        (Some(Rejoined::Ended), true) => {
            format!("이전 이용이 끝나, 새로 줄을 섰습니다. {line}")
        }
        (Some(Rejoined::Ended), false) => format!(
            "Your earlier visit to the booking site has ended; you have joined the line again. {line}"
        ),
        (None, _) => line,
    };
    let lang = if korean { "ko" } else { "en" };
    format!(
        "<!doctype html><html lang=\"{lang}\"><meta charset=\"utf-8\"><title>{title}</title>\
         <body style=\"font:1.1rem/1.5 system-ui,sans-serif;margin:0;padding:.5rem;color:#111;background:#fff\">\
         <p>{line}</p></body></html>",
        title = if korean { "대기 순서" } else { "Your place in line" },
    )
}

/// Unix ms as Korean time: `12월 6일 09:00 (한국 시간)`, or `6 Dec 09:00 KST`. The page's
/// own script shows the visitor's local time; this frame has no clock of its own to ask.
fn kst(ms: u64, korean: bool) -> String {
    let secs = ms / 1000 + 9 * 3600;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (hour, minute) = (rest / 3600, rest % 3600 / 60);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm, for days ≥ 0).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    if korean {
        format!("{month}월 {day}일 {hour:02}:{minute:02} (한국 시간)")
    } else {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let name = MONTHS
            .get(usize::try_from(month).unwrap_or(1).saturating_sub(1))
            .unwrap_or(&"");
        format!("{day} {name} {hour:02}:{minute:02} KST")
    }
}

/// `1234567` → `1,234,567`.
fn group(n: u64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use edgegate_core::work::{Challenge, EFFORT_HIGH};

    fn waiting(work: bool) -> QueueStatus {
        QueueStatus {
            state: QueueState::Waiting,
            position: (!work).then_some(1234),
            ahead: (!work).then_some(1233),
            eta_s: None,
            next_poll_ms: 5_000,
            opens_at: None,
            stale: false,
            rejoined: None,
            work: work.then(|| Challenge {
                salt: "00".repeat(16),
                target: "11".repeat(32),
                most: EFFORT_HIGH,
                window: 2_833_333,
                key: 1,
            }),
            slots_taken: None,
            readmitted: false,
        }
    }

    #[test]
    fn work_asked_says_the_place_comes_in_a_minute_and_a_half_and_to_keep_the_page_open() {
        let ko = render(&waiting(true), true);
        assert!(ko.contains("<html lang=\"ko\">"), "{ko}");
        assert!(
            ko.contains(
                "<p>약 2분 안에 대기 순서가 확정됩니다. 이 페이지를 닫지 말고 그대로 열어 두세요.</p>"
            ),
            "{ko}"
        );
        let en = render(&waiting(true), false);
        assert!(
            en.contains(
                "<p>Your place in line will be confirmed within about two minutes. Please keep this page open.</p>"
            ),
            "{en}"
        );
        // Paused while the work is asked: both are said.
        let paused = render(
            &QueueStatus {
                state: QueueState::Paused,
                ..waiting(true)
            },
            false,
        );
        assert!(
            paused.contains("two minutes") && paused.contains("paused by the operator"),
            "{paused}"
        );
        // A place already taken: its number, and no word of waiting for it.
        for korean in [true, false] {
            let placed = render(&waiting(false), korean);
            assert!(placed.contains("1,234"), "{placed}");
            assert!(
                !placed.contains("2분") && !placed.contains("two minutes"),
                "{placed}"
            );
        }
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(group(7), "7");
        assert_eq!(group(1234), "1,234");
        assert_eq!(group(1234567), "1,234,567");
    }

    #[test]
    fn slots_taken_are_said_with_the_next_release_in_korean_time() {
        let mut status = waiting(false);
        // 2026-12-06 00:00 UTC is 09:00 in Korea.
        status.slots_taken = Some(edgegate_core::status::SlotsTaken {
            next_release_at: Some(edgegate_core::UnixMs(1_796_515_200_000)),
        });
        let ko = render(&status, true);
        assert!(
            ko.contains("자리가 모두 찼습니다") && ko.contains("12월 6일 09:00 (한국 시간)"),
            "{ko}"
        );
        assert!(ko.contains("1,234번째"), "the place is still shown: {ko}");
        let en = render(&status, false);
        assert!(
            en.contains("All of today's slots are taken") && en.contains("6 Dec 09:00 KST"),
            "{en}"
        );
        status.slots_taken = Some(edgegate_core::status::SlotsTaken {
            next_release_at: None,
        });
        assert!(render(&status, false).contains("has not been set yet"));
    }
}
