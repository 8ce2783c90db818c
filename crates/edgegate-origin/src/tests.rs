//! Route tests through `oneshot`, with the pass guard in place and the clock pinned to
//! 10:00 on 12 July 2021 in Seoul (the night the fifties' booking opened, plus ten hours).

use axum::body::{to_bytes, Body};
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use edgegate_core::keys::{ForPasses, SecretRing};
use edgegate_core::{KeyRing, Pass, RoomTag, UnixMs};
use tempfile::TempDir;
use tower::ServiceExt;

use crate::config::{Clock, IdentityKey, Settings};
use crate::store::Store;
use crate::{app, operator_app, AppState};

/// 2021-07-12T10:00:00+09:00.
const NOW: UnixMs = UnixMs(1_626_015_600_000 + 10 * 3_600_000);
const GATE_KEYS: &str = "1:00112233445566778899aabbccddeeff";
const TODAY_SLOT: &str = "1-20210712-0900";

fn pass_keys() -> KeyRing<ForPasses> {
    SecretRing::parse(GATE_KEYS).unwrap().pass_keys().unwrap()
}

struct Harness {
    _dir: TempDir,
    state: AppState,
}

impl Harness {
    fn new(cap: Option<usize>) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("origin.db")).unwrap();
        let state = AppState::new(
            store,
            Settings {
                pass_keys: pass_keys(),
                room: RoomTag::of("booking"),
                identity_key: IdentityKey::from_bytes(vec![42; 32]).unwrap(),
                max_in_flight: cap.and_then(std::num::NonZeroUsize::new),
                clock: Clock::Fixed(NOW),
            },
        );
        Harness { _dir: dir, state }
    }

    fn app(&self) -> Router {
        app(self.state.clone())
    }

    /// A GET on the operator's listener.
    async fn operator(&self, path: &str) -> (StatusCode, HeaderMap, String) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = operator_app(self.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let response = self.app().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    async fn rows(&self) -> u64 {
        self.state.store().booking_count().await.unwrap()
    }
}

/// A pass for ticket `[n; 16]`, valid from a second ago for ten minutes.
fn pass(n: u8) -> String {
    Pass {
        key_id: 1,
        room: RoomTag::of("booking"),
        ticket_id: [n; 16],
        issued_at: NOW.minus_ms(1_000),
        expires_at: NOW.plus_ms(600_000),
        ends_at: NOW.plus_ms(600_000),
        ..Pass::default()
    }
    .sign(&pass_keys())
}

fn get(path: &str, pass: &str) -> Request<Body> {
    Request::get(path)
        .header("gate-pass", pass)
        .body(Body::empty())
        .unwrap()
}

fn form(pass: &str, body: &str) -> Request<Body> {
    Request::post("/book")
        .header("gate-pass", pass)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn json(pass: &str, body: &str, key: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/api/bookings")
        .header("gate-pass", pass)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

fn booking_json(slot: &str, name: &str, birth: &str, dose: u8) -> String {
    serde_json::json!({"slot_id": slot, "name": name, "birth_date": birth, "dose": dose})
        .to_string()
}

fn form_body(slot: &str, name: &str, birth: &str, dose: &str, key: &str) -> String {
    serde_urlencoded::to_string([
        ("idempotency_key", key),
        ("centre", "1"),
        ("date", "2021-07-12"),
        ("slot_id", slot),
        ("name", name),
        ("birth_date", birth),
        ("dose", dose),
    ])
    .unwrap()
}

/// The text of the element with `id="booking-id"`.
fn booking_id_in(page: &str) -> String {
    let start = page.find("id=\"booking-id\">").unwrap() + "id=\"booking-id\">".len();
    let end = start + page[start..].find('<').unwrap();
    page[start..end].to_owned()
}

#[tokio::test]
async fn healthz_answers_without_a_pass() {
    let h = Harness::new(Some(8));
    let (status, _, body) = h
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
}

#[tokio::test]
async fn every_route_refuses_a_missing_or_bad_pass_before_doing_anything() {
    let h = Harness::new(Some(8));
    let valid = Pass {
        key_id: 1,
        room: RoomTag::of("booking"),
        ticket_id: [1; 16],
        issued_at: NOW.minus_ms(1_000),
        expires_at: NOW.plus_ms(600_000),
        ends_at: NOW.plus_ms(600_000),
        ..Pass::default()
    };
    let expired = Pass {
        issued_at: NOW.minus_ms(700_000),
        expires_at: NOW.minus_ms(31_000),
        ..valid.clone()
    }
    .sign(&pass_keys());
    let future = Pass {
        issued_at: NOW.plus_ms(120_000),
        expires_at: NOW.plus_ms(700_000),
        ..valid.clone()
    }
    .sign(&pass_keys());
    let other_room = Pass {
        room: RoomTag::of("other-room"),
        ..valid.clone()
    }
    .sign(&pass_keys());
    let unknown_key = valid.sign(
        &SecretRing::parse("9:00112233445566778899aabbccddeeff")
            .unwrap()
            .pass_keys()
            .unwrap(),
    );
    let wrong_secret = valid.sign(
        &SecretRing::parse("1:ffeeddccbbaa99887766554433221100")
            .unwrap()
            .pass_keys()
            .unwrap(),
    );
    let good = valid.sign(&pass_keys());
    let mut tampered = good.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let bad_passes = [
        None,
        Some("garbage".to_owned()),
        Some(String::new()),
        Some(expired),
        Some(future),
        Some(other_room),
        Some(unknown_key),
        Some(wrong_secret),
        Some(tampered),
    ];
    let body = booking_json(TODAY_SLOT, "김민수", "1968-03-05", 1);
    let routes: [(&str, &str); 10] = [
        ("GET", "/"),
        ("GET", "/centres/1"),
        ("POST", "/book"),
        ("GET", "/bookings/ABC"),
        ("GET", "/api/centres"),
        ("GET", "/api/centres/1/slots"),
        ("POST", "/api/bookings"),
        ("GET", "/api/bookings/ABC"),
        ("GET", "/no/such/page"),
        ("POST", "/healthz"),
    ];
    for (method, path) in routes {
        for bad in &bad_passes {
            let mut request = Request::builder()
                .method(method)
                .uri(path)
                .header(header::CONTENT_TYPE, "application/json");
            if let Some(text) = bad {
                request = request.header("gate-pass", text);
            }
            let (status, headers, text) = h
                .send(request.body(Body::from(body.clone())).unwrap())
                .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {bad:?}"
            );
            assert!(text.contains("Gate-Pass"), "{text}");
            assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        }
    }
    // Two Gate-Pass headers count as none, even if one is good.
    let request = Request::get("/")
        .header("gate-pass", good.as_str())
        .header("gate-pass", good.as_str())
        .body(Body::empty())
        .unwrap();
    assert_eq!(h.send(request).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(h.rows().await, 0);
    // The good pass works everywhere the bad ones did not.
    assert_eq!(h.send(get("/", &good)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_pass_expired_within_the_skew_allowance_still_works() {
    let h = Harness::new(Some(8));
    let at = |expired_ms_ago: u64| {
        Pass {
            key_id: 1,
            room: RoomTag::of("booking"),
            ticket_id: [1; 16],
            issued_at: NOW.minus_ms(600_000),
            expires_at: NOW.minus_ms(expired_ms_ago),
            ends_at: NOW.minus_ms(expired_ms_ago),
            ..Pass::default()
        }
        .sign(&pass_keys())
    };
    assert_eq!(h.send(get("/", &at(0))).await.0, StatusCode::OK);
    assert_eq!(h.send(get("/", &at(29_999))).await.0, StatusCode::OK);
    assert_eq!(
        h.send(get("/", &at(30_000))).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_home_page_lists_centres_in_korean_or_english() {
    let h = Harness::new(Some(8));
    let (status, headers, page) = h.send(get("/", &pass(1))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<html lang=\"ko\">"));
    assert!(page.contains("<h1>백신 예약 · 접종 기관 선택</h1>"));
    assert!(page.contains("<a class=\"centre\" href=\"/centres/1\">서울 중구 예방접종센터</a>"));
    assert_eq!(page.matches("class=\"centre\"").count(), 30);
    assert_eq!(page.matches("<h1>").count(), 1);
    assert!(page.contains("<main>"));
    assert!(!page.contains("<script"));
    assert!(headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .starts_with("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"));
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));

    let english = Request::get("/")
        .header("gate-pass", pass(1))
        .header(header::ACCEPT_LANGUAGE, "en-GB,en;q=0.9,ko;q=0.5")
        .body(Body::empty())
        .unwrap();
    let (_, _, page) = h.send(english).await;
    assert!(page.contains("<html lang=\"en\">"));
    assert!(page.contains("<h1>Vaccine booking · Choose a centre</h1>"));
    assert!(page.contains("href=\"/centres/1\">Seoul Jung-gu Vaccination Centre</a>"));
    assert!(page.contains("lang=\"ko\" hreflang=\"ko\">한국어</a>"));

    let (_, _, page) = h.send(get("/?lang=en", &pass(1))).await;
    assert!(page.contains("<a class=\"centre\" href=\"/centres/1?lang=en\">"));
    let (_, _, page) = h.send(get("/?lang=ko", &pass(1))).await;
    assert!(page.contains("<html lang=\"ko\">"));
    assert!(page.contains("href=\"/?lang=en\""));
}

#[tokio::test]
async fn a_centre_page_offers_a_labelled_form_for_the_open_slots() {
    let h = Harness::new(Some(8));
    let (status, _, page) = h.send(get("/centres/1", &pass(1))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<h1>서울 중구 예방접종센터</h1>"));
    for (id, label) in [
        ("name", "이름"),
        ("birth_date", "생년월일"),
        ("dose", "차수"),
    ] {
        assert!(
            page.contains(&format!("<label for=\"{id}\">{label}</label>")),
            "{id}"
        );
        assert!(page.contains(&format!("id=\"{id}\" name=\"{id}\"")), "{id}");
    }
    assert!(page.contains("type=\"date\" id=\"birth_date\""));
    assert!(page.contains("<button type=\"submit\">예약하기</button>"));
    assert!(page.contains("name=\"idempotency_key\" value=\""));
    assert!(page.contains(&format!(
        "<input type=\"radio\" id=\"slot-{TODAY_SLOT}\" name=\"slot_id\" value=\"{TODAY_SLOT}\""
    )));
    assert!(page.contains(&format!(
        "<label for=\"slot-{TODAY_SLOT}\">09:00 · 잔여 30석</label>"
    )));
    assert!(page.contains("href=\"/centres/1?date=2021-07-25\""));
    assert!(!page.contains("2021-07-26"));
    assert!(page.contains("aria-current=\"date\">7월 12일 (월)</a>"));

    let (_, _, page) = h
        .send(get("/centres/1?date=2021-07-13&lang=en", &pass(1)))
        .await;
    assert!(page.contains("<label for=\"name\">Name</label>"));
    assert!(page.contains("<label for=\"birth_date\">Birth date</label>"));
    assert!(page.contains("<label for=\"dose\">Dose</label>"));
    assert!(page.contains("<button type=\"submit\">Book</button>"));
    assert!(page.contains("value=\"1-20210713-1700\""));
    assert!(page.contains("action=\"/book?lang=en\""));
    assert!(page.contains("href=\"/centres/1?date=2021-07-14&amp;lang=en\""));

    // A date outside the window shows today; an unknown centre is a 404 page.
    let (_, _, page) = h.send(get("/centres/1?date=2030-01-01", &pass(1))).await;
    assert!(page.contains(TODAY_SLOT));
    for path in ["/centres/99", "/centres/abc"] {
        let (status, _, page) = h.send(get(path, &pass(1))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.contains("<h1>페이지를 찾을 수 없습니다</h1>"));
    }
}

#[tokio::test]
async fn a_form_booking_is_confirmed_in_place_and_ends_the_session() {
    let h = Harness::new(Some(8));
    let body = form_body(TODAY_SLOT, "김민수", "1968-03-05", "1", "k-1");
    let (status, headers, page) = h.send(form(&pass(1), &body)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(headers["gate-session"], "end");
    assert!(headers.get(header::LOCATION).is_none());
    assert!(page.contains("<h1>예약이 완료되었습니다</h1>"));
    assert!(page.contains("<dd>서울 중구 예방접종센터</dd>"));
    assert!(page.contains("<dd>09:00</dd>"));
    assert!(page.contains("<dd>1차</dd>"));
    assert!(
        !page.contains("김민수"),
        "the name is never shown back or stored"
    );
    let id = booking_id_in(&page);
    assert_eq!(id.len(), 16);

    // The same form sent twice (double click, retry): the same page, no second row.
    let (status, headers, again) = h.send(form(&pass(1), &body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["gate-session"], "end");
    assert_eq!(again, page);
    assert_eq!(h.rows().await, 1);

    let (status, _, view) = h
        .send(get(&format!("/bookings/{id}?lang=en"), &pass(2)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(view.contains("<h1>Your booking</h1>"));
    assert!(view.contains(&format!("<dd id=\"booking-id\">{id}</dd>")));
    assert!(view.contains("Mon 12 Jul 2021"));
    let (status, _, _) = h.send(get("/bookings/NOPE", &pass(2))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let english = Request::post("/book?lang=en")
        .header("gate-pass", pass(3))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form_body(
            TODAY_SLOT,
            "Kim Jisoo",
            "1970-01-01",
            "2",
            "k-2",
        )))
        .unwrap();
    let (status, _, page) = h.send(english).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<h1>Booking confirmed</h1>"));
}

#[tokio::test]
async fn form_mistakes_come_back_on_the_form_with_the_message() {
    let h = Harness::new(Some(8));
    let cases = [
        (
            "",
            "김민수",
            "1968-03-05",
            "1",
            "slot_id",
            "예약할 시간을 선택해 주세요.",
        ),
        (
            "1-20210726-0900",
            "김민수",
            "1968-03-05",
            "1",
            "slot_id",
            "예약할 시간",
        ),
        (
            "99-20210712-0900",
            "김민수",
            "1968-03-05",
            "1",
            "slot_id",
            "예약할 시간",
        ),
        (TODAY_SLOT, "   ", "1968-03-05", "1", "name", "이름을"),
        (
            TODAY_SLOT,
            &"가".repeat(61),
            "1968-03-05",
            "1",
            "name",
            "이름을",
        ),
        (
            TODAY_SLOT,
            "<b>김</b>",
            "1968-02-30",
            "1",
            "birth_date",
            "생년월일을",
        ),
        (
            TODAY_SLOT,
            "김민수",
            "2021-07-13",
            "1",
            "birth_date",
            "생년월일을",
        ),
        (
            TODAY_SLOT,
            "김민수",
            "1899-12-31",
            "1",
            "birth_date",
            "생년월일을",
        ),
        (TODAY_SLOT, "김민수", "1968-03-05", "5", "dose", "차수를"),
        (TODAY_SLOT, "김민수", "1968-03-05", "x", "dose", "차수를"),
    ];
    for (slot, name, birth, dose, field, message) in cases {
        let (status, headers, page) = h
            .send(form(&pass(1), &form_body(slot, name, birth, dose, "k")))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {page}");
        assert!(headers.get("gate-session").is_none());
        assert!(page.contains("id=\"form-error\" role=\"alert\""), "{field}");
        assert!(page.contains(message), "{field}: {page}");
        if field != "slot_id" {
            assert!(
                page.contains(&format!("id=\"{field}\" name=\"{field}\"")),
                "{field}"
            );
            assert!(page.contains("aria-invalid=\"true\""), "{field}");
        }
    }
    // Values come back escaped.
    let (_, _, page) = h
        .send(form(
            &pass(1),
            &form_body(TODAY_SLOT, "<b>김</b>", "bad", "1", "k"),
        ))
        .await;
    assert!(page.contains("value=\"&lt;b&gt;김&lt;/b&gt;\""));
    assert!(!page.contains("<b>김</b>"));
    // Not a form at all.
    let (status, _, _) = h.send(form(&pass(1), "%%%=&&=")).await;
    assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(h.rows().await, 0);
}

#[tokio::test]
async fn form_conflicts_are_409_with_a_plain_explanation() {
    let h = Harness::new(Some(8));
    let first = form_body(TODAY_SLOT, "김민수", "1968-03-05", "1", "a");
    assert_eq!(h.send(form(&pass(1), &first)).await.0, StatusCode::OK);
    // The same person (whitespace and case do not matter), another pass, same dose.
    let again = form_body("1-20210713-1000", " 김민수 ", "1968-03-05", "1", "b");
    let (status, headers, page) = h.send(form(&pass(2), &again)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(headers.get("gate-session").is_none());
    assert!(page.contains("이미 같은 차수의 예약이 있습니다"));
    // The same pass again for someone else.
    let other = form_body(TODAY_SLOT, "이영희", "1970-05-05", "1", "c");
    let (status, _, page) = h.send(form(&pass(1), &other)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("이 입장권으로는 이미 예약했습니다"));
    // A form key reused with other details.
    let reuse = form_body(TODAY_SLOT, "박지훈", "1980-01-01", "1", "a");
    let (status, _, page) = h.send(form(&pass(3), &reuse)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("이미 다른 내용으로 제출되었습니다"));
    assert_eq!(h.rows().await, 1);
}

#[tokio::test]
async fn cross_site_posts_are_refused_without_a_row() {
    let h = Harness::new(Some(8));
    let cases: [&[(&str, &str)]; 3] = [
        &[("sec-fetch-site", "cross-site")],
        &[
            ("origin", "http://evil.example"),
            ("x-forwarded-host", "127.0.0.1:8787"),
        ],
        &[("origin", "null")],
    ];
    for headers in cases {
        let mut request = form(
            &pass(1),
            &form_body(TODAY_SLOT, "김민수", "1968-03-05", "1", "k"),
        );
        let mut api = json(
            &pass(2),
            &booking_json(TODAY_SLOT, "이영희", "1970-05-05", 1),
            None,
        );
        for (name, value) in headers {
            request.headers_mut().insert(*name, value.parse().unwrap());
            api.headers_mut().insert(*name, value.parse().unwrap());
        }
        let (status, _, page) = h.send(request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(page.contains("<h1>요청이 거부되었습니다</h1>"));
        let (status, _, body) = h.send(api).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(body.contains("cross_site"));
    }
    assert_eq!(h.rows().await, 0);
    // Same-origin through the gate is fine.
    let mut request = form(
        &pass(1),
        &form_body(TODAY_SLOT, "김민수", "1968-03-05", "1", "k"),
    );
    for (name, value) in [
        ("sec-fetch-site", "same-origin"),
        ("origin", "http://127.0.0.1:8787"),
        ("x-forwarded-host", "127.0.0.1:8787"),
        ("x-forwarded-proto", "http"),
    ] {
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    assert_eq!(h.send(request).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_json_api_lists_centres_and_slots() {
    let h = Harness::new(Some(8));
    let (status, headers, body) = h.send(get("/api/centres", &pass(1))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let centres: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(centres.as_array().unwrap().len(), 30);
    assert_eq!(centres[0]["name_ko"], "서울 중구 예방접종센터");
    assert_eq!(centres[29]["capacity_per_slot"], 1);

    let (status, _, body) = h.send(get("/api/centres/30/slots", &pass(1))).await;
    assert_eq!(status, StatusCode::OK);
    let day: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(day["date"], "2021-07-12");
    assert_eq!(day["slots"].as_array().unwrap().len(), 9);
    assert_eq!(day["slots"][0]["id"], "30-20210712-0900");
    assert_eq!(day["slots"][0]["remaining"], 1);

    let (_, _, body) = h
        .send(get("/api/centres/1/slots?date=2021-07-20", &pass(1)))
        .await;
    assert!(body.contains("\"1-20210720-1700\""));
    for (path, want) in [
        (
            "/api/centres/1/slots?date=2021-07-26",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/centres/1/slots?date=12-07-2021",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/api/centres/31/slots", StatusCode::NOT_FOUND),
        ("/api/nothing", StatusCode::NOT_FOUND),
    ] {
        let (status, _, body) = h.send(get(path, &pass(1))).await;
        assert_eq!(status, want, "{path}: {body}");
        assert!(body.starts_with("{\"error\""), "{body}");
    }
}

#[tokio::test]
async fn a_json_booking_is_created_and_read_back() {
    let h = Harness::new(Some(8));
    let (status, headers, body) = h
        .send(json(
            &pass(1),
            &booking_json(TODAY_SLOT, "김민수", "1968-03-05", 2),
            None,
        ))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(headers["gate-session"], "end");
    let made: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(made["slot_id"], TODAY_SLOT);
    assert_eq!(made["centre_id"], 1);
    assert_eq!(made["date"], "2021-07-12");
    assert_eq!(made["time"], "09:00");
    assert_eq!(made["dose"], 2);
    let id = made["id"].as_str().unwrap();
    let (status, _, body) = h.send(get(&format!("/api/bookings/{id}"), &pass(2))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        made
    );
    let (status, _, _) = h.send(get("/api/bookings/NOPE", &pass(2))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, body) = h.send(get("/api/centres/1/slots", &pass(2))).await;
    assert!(body.contains("\"booked\":1,\"remaining\":29"));
}

#[tokio::test]
async fn json_mistakes_name_the_field() {
    let h = Harness::new(Some(8));
    let cases = [
        (
            r#"{"name":"김","birth_date":"1968-03-05","dose":1}"#,
            "slot_id",
        ),
        (
            r#"{"slot_id":7,"name":"김","birth_date":"1968-03-05","dose":1}"#,
            "slot_id",
        ),
        (
            r#"{"slot_id":"1-20210712-0900","birth_date":"1968-03-05","dose":1}"#,
            "name",
        ),
        (
            r#"{"slot_id":"1-20210712-0900","name":"","birth_date":"1968-03-05","dose":1}"#,
            "name",
        ),
        (
            r#"{"slot_id":"1-20210712-0900","name":"김","birth_date":"1968-3-5","dose":1}"#,
            "birth_date",
        ),
        (
            r#"{"slot_id":"1-20210712-0900","name":"김","birth_date":"1968-03-05","dose":0}"#,
            "dose",
        ),
        (
            r#"{"slot_id":"1-20210712-0900","name":"김","birth_date":"1968-03-05","dose":1.5}"#,
            "dose",
        ),
        (
            r#"{"slot_id":"1-20210712-0900","name":"김","birth_date":"1968-03-05","dose":"1"}"#,
            "dose",
        ),
    ];
    for (body, field) in cases {
        let (status, _, answer) = h.send(json(&pass(1), body, None)).await;
        // A string "1" for dose is accepted like a form's; every other case names its field.
        if body.contains(r#""dose":"1""#) {
            assert_eq!(status, StatusCode::CREATED, "{answer}");
            continue;
        }
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["field"], field, "{body}");
        assert!(answer["error"].as_str().unwrap().contains(field));
    }
    let (status, _, _) = h.send(json(&pass(2), "[1,2]", None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = h.send(json(&pass(2), "{", None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let plain = Request::post("/api/bookings")
        .header("gate-pass", pass(2))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(booking_json(TODAY_SLOT, "김", "1968-03-05", 1)))
        .unwrap();
    assert_eq!(h.send(plain).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _, body) = h
        .send(json(
            &pass(2),
            &booking_json(TODAY_SLOT, "김", "1968-03-05", 1),
            Some("bad key"),
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("Idempotency-Key"));
    assert_eq!(h.rows().await, 1);
}

#[tokio::test]
async fn json_conflicts_say_which_rule() {
    let h = Harness::new(Some(8));
    let slot = "30-20210712-0900"; // one seat
    let book = |n: u8, name: &str, dose: u8| {
        json(
            &pass(n),
            &booking_json(slot, name, "1968-03-05", dose),
            None,
        )
    };
    assert_eq!(h.send(book(1, "김민수", 1)).await.0, StatusCode::CREATED);
    for (request, code) in [
        (book(2, "이영희", 1), "slot_full"),
        (book(3, "김민수", 1), "already_booked"),
        (book(1, "박지훈", 1), "ticket_used"),
    ] {
        let (status, headers, body) = h.send(request).await;
        assert_eq!(status, StatusCode::CONFLICT, "{code}");
        assert!(headers.get("gate-session").is_none());
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["code"], code);
    }
    assert_eq!(h.rows().await, 1);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_or_refuses_a_different_request() {
    let h = Harness::new(Some(8));
    let body = booking_json(TODAY_SLOT, "김민수", "1968-03-05", 1);
    let (status, _, first) = h.send(json(&pass(1), &body, Some("key-1"))).await;
    assert_eq!(status, StatusCode::CREATED);
    // A retry after the gate ended the session comes with a new pass: still the same answer.
    let (status, headers, again) = h.send(json(&pass(2), &body, Some("key-1"))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(headers["gate-session"], "end");
    assert_eq!(again, first);
    let other = booking_json(TODAY_SLOT, "이영희", "1970-05-05", 1);
    let (status, _, answer) = h.send(json(&pass(3), &other, Some("key-1"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.contains("\"field\":\"Idempotency-Key\""));
    assert_eq!(h.rows().await, 1);
    // A remembered conflict replays as the same conflict.
    let (status, _, conflict) = h.send(json(&pass(1), &other, Some("key-2"))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _, replay) = h.send(json(&pass(1), &other, Some("key-2"))).await;
    assert_eq!((status, replay), (StatusCode::CONFLICT, conflict));
}

#[tokio::test]
async fn beyond_the_cap_requests_get_503_at_once_but_health_and_metrics_do_not() {
    let h = Harness::new(Some(1));
    let limiter = std::sync::Arc::clone(h.state.limiter().unwrap());
    let held = limiter.try_acquire_owned().unwrap();
    let (status, headers, body) = h.send(get("/api/centres", &pass(1))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert!(body.len() < 100);
    // The guard runs first: a request without a pass is a 401, not a 503.
    let (status, _, _) = h.send(Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = h
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, metrics) = h.operator("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(metrics.contains("origin_overloaded_total 1"), "{metrics}");
    assert!(metrics.contains("origin_max_in_flight 1"));
    drop(held);
    assert_eq!(
        h.send(get("/api/centres", &pass(1))).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_paths_with_a_pass_are_404_pages() {
    let h = Harness::new(Some(8));
    let (status, headers, page) = h.send(get("/nowhere?lang=en", &pass(1))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.contains("<h1>Page not found</h1>"));
    let (status, _, _) = h.send(get("/book", &pass(1))).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn metrics_count_routes_statuses_bookings_and_refusals() {
    let h = Harness::new(Some(8));
    h.send(get("/", &pass(1))).await;
    h.send(Request::get("/").body(Body::empty()).unwrap()).await;
    h.send(json(
        &pass(1),
        &booking_json(TODAY_SLOT, "김민수", "1968-03-05", 1),
        None,
    ))
    .await;
    h.send(get("/centres/3", &pass(2))).await;
    // The citizens' port keeps the contract: no pass, no metrics.
    let (status, _, _) = h
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, headers, text) = h.operator("/metrics").await;
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    for line in [
        "origin_requests_total{route=\"/\",method=\"GET\",status=\"200\"} 1",
        "origin_requests_total{route=\"/\",method=\"GET\",status=\"401\"} 1",
        "origin_requests_total{route=\"/api/bookings\",method=\"POST\",status=\"201\"} 1",
        "origin_requests_total{route=\"/centres/{id}\",method=\"GET\",status=\"200\"} 1",
        "origin_bookings_total 1",
        "origin_unauthorized_total 2",
        "origin_in_flight 0",
        "origin_request_duration_seconds_count 5",
        "# TYPE origin_request_duration_seconds histogram",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[tokio::test]
async fn a_scraper_that_offers_openmetrics_gets_it_whole() {
    let h = Harness::new(Some(8));
    h.send(get("/", &pass(1))).await;
    let request = Request::get("/metrics")
        .header(
            header::ACCEPT,
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .body(Body::empty())
        .unwrap();
    let response = operator_app(h.state.clone())
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("# TYPE origin_requests counter\n"), "{text}");
    assert!(text.contains("origin_requests_total{route=\"/\",method=\"GET\",status=\"200\"} 1\n"));
    assert!(text.ends_with("\n# EOF\n"), "{text}");
    // Without the offer, the classic format: the same lines, no end mark.
    let (_, headers, text) = h.operator("/metrics").await;
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(!text.contains("# EOF"), "{text}");
}
