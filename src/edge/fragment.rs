//! The no-JavaScript status page shown inside the waiting page's `<noscript>` frame: the same
//! facts as `/queue/status`, as a few lines of plain HTML in Korean or English. It reflects
//! nothing from the request but the visitor's own numbers.

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
            let why = match (state, korean) {
                (QueueState::Paused, true) => {
                    "운영자가 잠시 대기열을 멈췄습니다. 순서는 그대로 유지됩니다."
                }
                (QueueState::Paused, false) => {
                    "The line is paused by the operator. Your place is kept."
                }
                (_, true) => "순서는 그대로 유지됩니다.",
                (_, false) => "Your place is kept.",
            };
            format!("{place}{why}")
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

    #[test]
    fn groups_thousands() {
        assert_eq!(group(7), "7");
        assert_eq!(group(1234), "1,234");
        assert_eq!(group(1234567), "1,234,567");
    }
}
