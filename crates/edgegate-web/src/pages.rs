//! The gate's small built-in pages, for answers that are not the waiting page: errors, a pass
//! withdrawn, an origin that does not answer, a request too large. Fixed bilingual text only;
//! nothing from the request is reflected.

use edgegate_core::revocation::TicketRef;

/// A minimal page with a title, a message and a "try again" link, on one line (the JS entry's
/// answers are `\n`-separated).
pub fn plain_html(title: &str, message: &str) -> String {
    format!(
        "<!doctype html><html lang=\"ko\"><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title>\
         <body style=\"font:1.1rem/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#111\">\
         <h1 style=\"font-size:1.4rem\">{title}</h1><p>{message}</p>\
         <p><a href=\"\">다시 시도 · Try again</a></p></body></html>"
    )
}

/// The page for a path that is not there.
pub fn not_found() -> String {
    plain_html(
        "찾을 수 없습니다 · Not found",
        "이 주소에는 페이지가 없습니다. · There is no page at this address.",
    )
}

/// The page for a ticket or pass the operator withdrew: never forwarded.
pub fn withdrawn(r: TicketRef) -> String {
    plain_html(
        "입장이 취소되었습니다 · Your pass was withdrawn",
        &format!(
            "운영자가 이 입장권(접수 번호 {r})을 취소했습니다. 다시 줄을 서려면 이 페이지를 새로 고치세요. \
             잘못된 조치라고 생각되면 접수 번호를 준비해 고객센터에 문의해 주세요. · \
             The operator has withdrawn this pass (ticket number {r}). To queue again, reload this \
             page. If you think this is a mistake, contact the call centre with your ticket number."
        ),
    )
}

/// The page for a pass whose session has ended (the booking service said so, at this edge or
/// another): a copy of it, or the holder's own, is never forwarded again.
pub fn ended() -> String {
    plain_html(
        "이용이 끝났습니다 · Your session has ended",
        "예약 서비스가 이 입장의 이용을 마쳤습니다. 다시 이용하려면 이 페이지를 새로 고쳐 줄을 서 주세요. · \
         The booking service has ended this session. To use it again, reload this page to queue again.",
    )
}

/// The page for a pass presented from a network it was not let through from, after the one
/// move a phone may make (Wi-Fi to its carrier): a copy of someone's pass.
pub fn elsewhere() -> String {
    plain_html(
        "다른 네트워크의 입장권입니다 · This pass belongs to another network",
        "이 입장권은 다른 네트워크에서 발급되어 여기서는 쓸 수 없습니다. 이 페이지를 새로 고쳐 줄을 서 주세요. \
         계속 이 화면이 보이면 Wi-Fi나 모바일 데이터 중 하나로만 접속해 주세요. · \
         This pass was issued to another network and cannot be used from here. Reload this page to \
         queue. If you keep seeing this, stay on one connection (Wi-Fi or mobile data).",
    )
}

/// The page for an origin that does not answer (502) or not in time (504).
pub fn origin_trouble() -> String {
    plain_html(
        "예약 서버가 응답하지 않습니다 · The booking service is not answering",
        "입장은 유효합니다. 잠시 후 다시 시도해 주세요. · Your admission is still valid. Please try again in a moment.",
    )
}

/// The page for a pass at an edge that cannot yet confirm it is still good (503): it has not
/// heard from the room, so it does not know what the operator withdrew.
pub fn unconfirmed() -> String {
    plain_html(
        "잠시 후 다시 시도해 주세요 · Please try again in a moment",
        "입장은 아직 유효할 수 있지만, 이 서버가 지금 확인할 수 없습니다. 잠시 후 다시 시도해 주세요. · \
         Your admission may still be valid, but this server cannot confirm it right now. Please try again in a moment.",
    )
}

/// The page for a request body over the limit (413).
pub fn too_large() -> String {
    plain_html(
        "요청이 너무 큽니다 · Request too large",
        "보낸 내용이 너무 큽니다. · What was sent is too large.",
    )
}

/// The page for a failure inside the gate (500) or a deployment mistake (503).
pub fn something_went_wrong() -> String {
    plain_html(
        "잠시 문제가 생겼습니다 · Something went wrong",
        "잠시 후 다시 시도해 주세요. 대기 순서는 유지됩니다. · Please try again in a moment. Your place in line is kept.",
    )
}
