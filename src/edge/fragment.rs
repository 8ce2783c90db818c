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
}
