//! The HTML pages, as maud templates: no scripts, and no hand-written escaping.
//!
//! maud escapes every spliced value (text and attributes alike), so a centre name or a form value
//! can never become markup; the one raw splice is the stylesheet below, a constant of ours that
//! must stay raw because `<style>` content is not entity-decoded by browsers.
//!
//! Every page has `<html lang>`, one `<h1>` inside `<main>`, a banner with a language switch and
//! a footer (so all content sits in a landmark), a `<label for>` on every input, and colours with
//! at least 7:1 contrast; pages are checked with axe-core.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::booking::{Field, MAX_NAME_CHARS};
use crate::date::Date;
use crate::domain::{window, Booking, Centre, Slot, DOSES};
use crate::lang::{Lang, LangChoice};

const STYLE: &str = "\
:root{color-scheme:light}\
body{margin:0;font-family:system-ui,-apple-system,'Apple SD Gothic Neo','Malgun Gothic','Noto Sans KR',sans-serif;line-height:1.55;word-break:keep-all;overflow-wrap:anywhere;color:#1a1a1a;background:#fff}\
header,main,footer{max-width:46rem;margin:0 auto;padding-left:1rem;padding-right:1rem}\
header{display:flex;justify-content:space-between;align-items:center;gap:1rem;padding-top:.75rem;padding-bottom:.75rem;border-bottom:1px solid #d0d0d0}\
header ul{list-style:none;margin:0;padding:0}\
a{color:#0b57a4}\
.site{font-weight:700;text-decoration:none;color:#1a1a1a}\
h1{font-size:1.6rem;line-height:1.3;margin:1.25rem 0 .75rem}\
h2{font-size:1.2rem;margin:1.5rem 0 .5rem}\
.muted{color:#4a4a4a}\
ul.centres{list-style:none;padding:0;margin:0}\
ul.centres li{padding:.45rem 0;border-bottom:1px solid #e4e4e4}\
.dates ul{list-style:none;padding:0;margin:0;display:flex;flex-wrap:wrap;gap:.4rem}\
.dates a{display:inline-block;padding:.3rem .6rem;border:1px solid #0b57a4;border-radius:.3rem;text-decoration:none}\
.dates a[aria-current]{background:#0b57a4;color:#fff;font-weight:700}\
fieldset{border:1px solid #c4c4c4;border-radius:.3rem;margin:0 0 1rem;padding:.5rem 1rem}\
legend{font-weight:700;padding:0 .3rem}\
.slot{padding:.2rem 0}\
.slot.full{color:#4a4a4a}\
.field{margin:0 0 1rem}\
.field label{display:block;font-weight:700;margin-bottom:.2rem}\
input[type=text],input[type=date],select{font:inherit;padding:.4rem;border:1px solid #6b6b6b;border-radius:.25rem;min-width:15rem;max-width:100%;box-sizing:border-box}\
button{font:inherit;font-weight:700;color:#fff;background:#0b57a4;border:0;border-radius:.3rem;padding:.6rem 1.5rem;cursor:pointer}\
button:focus-visible,a:focus-visible,input:focus-visible,select:focus-visible{outline:3px solid #1a1a1a;outline-offset:2px}\
.error{color:#a4001d;background:#fff5f6;border-left:4px solid #a4001d;padding:.5rem .75rem}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.4rem 1.25rem}\
dt{font-weight:700}\
dd{margin:0;min-width:0;overflow-wrap:anywhere}\
#booking-id{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:1.2rem;letter-spacing:.06em}\
footer{margin-top:2.5rem;padding-top:.75rem;padding-bottom:1.5rem;border-top:1px solid #d0d0d0;color:#4a4a4a;font-size:.9rem}";

/// The frame around every page. `switch_href` is this page in the other language.
fn layout(lang: Lang, h1: &str, switch_href: &str, home_href: &str, content: Markup) -> String {
    let t = lang.texts();
    let other = lang.other().code();
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (h1) " · " (t.site) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    a.site href=(home_href) { (t.site) }
                    nav aria-label=(t.lang_nav) {
                        ul { li { a href=(switch_href) lang=(other) hreflang=(other) { (t.switch_label) } } }
                    }
                }
                main {
                    h1 { (h1) }
                    (content)
                }
                footer { p { (t.footer) } }
            }
        }
    }
    .into_string()
}

fn home_href(choice: LangChoice) -> String {
    format!("/{}", choice.link_suffix(true))
}

/// The Korean or the English form of a name.
fn pick<'a>(lang: Lang, ko: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::Ko => ko,
        Lang::En => en,
    }
}

fn centre_name(lang: Lang, centre: &Centre) -> &str {
    pick(lang, &centre.name_ko, &centre.name_en)
}

/// The centres grouped by city, cities in order of first appearance (the seed order).
fn by_city(centres: &[Centre]) -> Vec<Vec<&Centre>> {
    let mut groups: Vec<Vec<&Centre>> = Vec::new();
    for centre in centres {
        let same_city = |group: &&mut Vec<&Centre>| {
            group
                .first()
                .is_some_and(|first| first.city_en == centre.city_en)
        };
        match groups.iter_mut().find(same_city) {
            Some(group) => group.push(centre),
            None => groups.push(vec![centre]),
        }
    }
    groups
}

/// `GET /`: the centres, grouped by city in seed order.
pub(crate) fn home(choice: LangChoice, centres: &[Centre]) -> String {
    let lang = choice.lang;
    let t = lang.texts();
    let suffix = choice.link_suffix(true);
    let content = html! {
        p { (t.home_intro) }
        @for (n, group) in by_city(centres).iter().enumerate() {
            @if let Some(first) = group.first() {
                section aria-labelledby={ "city-" (n) } {
                    h2 id={ "city-" (n) } { (pick(lang, &first.city_ko, &first.city_en)) }
                    ul.centres {
                        @for centre in group {
                            li {
                                a.centre href={ "/centres/" (centre.id) (suffix) } { (centre_name(lang, centre)) }
                                " "
                                span.muted { "· " (pick(lang, &centre.district_ko, &centre.district_en)) }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(
        lang,
        t.home_h1,
        &format!("/?lang={}", lang.other().code()),
        &home_href(choice),
        content,
    )
}

/// What the booking form shows: the values to put back, the error, and a fresh key.
#[derive(Clone, Debug, Default)]
pub(crate) struct FormState {
    pub slot_id: Option<String>,
    pub name: String,
    pub birth_date: String,
    pub dose: Option<u8>,
    /// The message, and the field it is about (none: about the whole request).
    pub error: Option<(Option<Field>, String)>,
    pub idempotency_key: String,
}

impl FormState {
    /// Whether the error is about `field`: its input is then marked invalid and points at it.
    fn flags(&self, field: Field) -> bool {
        matches!(&self.error, Some((Some(f), _)) if *f == field)
    }
}

/// `GET /centres/{id}` and a `POST /book` that needs another try.
pub(crate) struct CentrePage<'a> {
    pub choice: LangChoice,
    pub centre: &'a Centre,
    pub date: Date,
    pub today: Date,
    pub slots: &'a [Slot],
    pub form: FormState,
}

pub(crate) fn centre(page: &CentrePage<'_>) -> String {
    let CentrePage {
        choice,
        centre,
        date,
        slots,
        form,
        ..
    } = page;
    let lang = choice.lang;
    let t = lang.texts();
    let content = html! {
        p.muted {
            (pick(lang, &centre.city_ko, &centre.city_en)) " · "
            (pick(lang, &centre.district_ko, &centre.district_en))
        }
        p { a href=(home_href(*choice)) { (t.back_to_centres) } }
        (date_nav(page))
        h2 { (t.times_heading) " · " (lang.long_date(*date)) }
        @if let Some((_, message)) = &form.error {
            p.error #form-error role="alert" { (message) }
        }
        @if slots.iter().all(|s| s.remaining() == 0) {
            p { (t.no_slots) }
        } @else {
            (booking_form(page))
        }
    };
    let switch = format!(
        "/centres/{}?date={date}&lang={}",
        centre.id,
        lang.other().code()
    );
    layout(
        lang,
        centre_name(lang, centre),
        &switch,
        &home_href(*choice),
        content,
    )
}

/// The booking window's days, each a link to this centre on that day.
fn date_nav(page: &CentrePage<'_>) -> Markup {
    let lang = page.choice.lang;
    let suffix = page.choice.link_suffix(false);
    html! {
        nav.dates aria-label=(lang.texts().dates_nav) {
            ul {
                @for day in window(page.today) {
                    li {
                        a href={ "/centres/" (page.centre.id) "?date=" (day) (suffix) }
                            aria-current=[(day == page.date).then_some("date")] {
                            (lang.short_date(day))
                        }
                    }
                }
            }
        }
    }
}

fn booking_form(page: &CentrePage<'_>) -> Markup {
    let CentrePage {
        choice,
        centre,
        date,
        slots,
        form,
        ..
    } = page;
    let t = choice.lang.texts();
    html! {
        form method="post" action={ "/book" (choice.link_suffix(true)) } {
            input type="hidden" name="idempotency_key" value=(form.idempotency_key);
            input type="hidden" name="centre" value=(centre.id);
            input type="hidden" name="date" value=(date);
            fieldset {
                legend { (t.slot_legend) }
                @for slot in slots.iter() {
                    (slot_choice(page, slot))
                }
            }
            h3 { (t.details_heading) }
            (details(page))
            button type="submit" { (t.submit) }
        }
    }
}

/// One slot: a labelled radio button, or a plain line when it is full.
fn slot_choice(page: &CentrePage<'_>, slot: &Slot) -> Markup {
    let lang = page.choice.lang;
    let t = lang.texts();
    let slot_id = slot.id.to_string();
    let invalid = page.form.flags(Field::SlotId);
    html! {
        @if slot.remaining() == 0 {
            div.slot.full { (slot.id.time()) " · " (t.full) }
        } @else {
            div.slot {
                input type="radio" id={ "slot-" (slot_id) } name="slot_id" value=(slot_id) required
                    checked[page.form.slot_id.as_deref() == Some(slot_id.as_str())]
                    aria-invalid=[invalid.then_some("true")]
                    aria-describedby=[invalid.then_some("form-error")];
                " "
                label for={ "slot-" (slot_id) } { (slot.id.time()) " · " (lang.seats_left(slot.remaining())) }
            }
        }
    }
}

/// The citizen's name, birth date and dose, with the values of a previous try put back.
fn details(page: &CentrePage<'_>) -> Markup {
    let lang = page.choice.lang;
    let t = lang.texts();
    let form = &page.form;
    let invalid = |field| form.flags(field).then_some("true");
    let described = |field| form.flags(field).then_some("form-error");
    html! {
        div.field {
            label for="name" { (t.name_label) }
            input type="text" id="name" name="name" value=(form.name) maxlength=(MAX_NAME_CHARS)
                autocomplete="name" required
                aria-invalid=[invalid(Field::Name)] aria-describedby=[described(Field::Name)];
        }
        div.field {
            label for="birth_date" { (t.birth_label) }
            input type="date" id="birth_date" name="birth_date" value=(form.birth_date)
                min="1900-01-01" max=(page.today) autocomplete="bday" required
                aria-invalid=[invalid(Field::BirthDate)]
                aria-describedby=[described(Field::BirthDate)];
        }
        div.field {
            label for="dose" { (t.dose_label) }
            select id="dose" name="dose" required
                aria-invalid=[invalid(Field::Dose)] aria-describedby=[described(Field::Dose)] {
                @for dose in DOSES {
                    option value=(dose) selected[form.dose == Some(dose)] { (lang.dose(dose)) }
                }
            }
        }
    }
}

/// The confirmation after `POST /book` (`confirmed`) and `GET /bookings/{id}`.
pub(crate) fn booking(
    choice: LangChoice,
    booking: &Booking,
    centre: &Centre,
    confirmed: bool,
) -> String {
    let lang = choice.lang;
    let t = lang.texts();
    let content = html! {
        dl {
            dt { (t.booking_id) } dd #booking-id { (booking.id) }
            dt { (t.centre) } dd { (centre_name(lang, centre)) }
            dt { (t.date) } dd { (lang.long_date(booking.slot.date)) }
            dt { (t.time) } dd { (booking.slot.time()) }
            dt { (t.dose) } dd { (lang.dose(booking.dose)) }
        }
        p { (t.keep_id) }
    };
    let h1 = if confirmed {
        t.confirmed_h1
    } else {
        t.booking_h1
    };
    let switch = format!("/bookings/{}?lang={}", booking.id, lang.other().code());
    layout(lang, h1, &switch, &home_href(choice), content)
}

/// A page with a heading, one message and a way back: 404, 403, 400, 500.
pub(crate) fn message(choice: LangChoice, h1: &str, text: &str) -> String {
    let lang = choice.lang;
    let content = html! {
        p { (text) }
        p { a href=(home_href(choice)) { (lang.texts().back_to_centres) } }
    };
    layout(
        lang,
        h1,
        &format!("/?lang={}", lang.other().code()),
        &home_href(choice),
        content,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::domain::{seed_centres, SlotId};

    const HOSTILE: &str = "<script>alert(\"x\")</script> & co";
    const ESCAPED: &str = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co";

    fn hostile_centre() -> Centre {
        let mut centre = seed_centres().remove(0);
        centre.name_ko = HOSTILE.to_owned();
        centre.district_en = HOSTILE.to_owned();
        centre
    }

    #[test]
    fn a_centre_name_with_markup_is_text_on_every_page() {
        let centre = hostile_centre();
        let today = Date::new(2021, 7, 12).unwrap();
        let ko = LangChoice {
            lang: Lang::Ko,
            explicit: false,
        };
        let en = LangChoice {
            lang: Lang::En,
            explicit: true,
        };
        let booking_page = booking(
            ko,
            &Booking {
                id: "0123456789ABCDEF".to_owned(),
                slot: SlotId {
                    centre_id: centre.id,
                    date: today,
                    hour: 9,
                },
                dose: 1,
            },
            &centre,
            true,
        );
        let day = |choice| {
            super::centre(&CentrePage {
                choice,
                centre: &centre,
                date: today,
                today,
                slots: &[],
                form: FormState::default(),
            })
        };
        let pages = [
            home(ko, std::slice::from_ref(&centre)),
            home(en, std::slice::from_ref(&centre)),
            day(ko),
            day(en),
            booking_page,
        ];
        for page in pages {
            assert!(page.contains(ESCAPED), "{page}");
            assert!(!page.contains("<script"), "{page}");
            assert!(!page.contains("\"x\""), "{page}");
        }
    }

    #[test]
    fn form_values_put_back_cannot_leave_their_attribute() {
        let centre = seed_centres().remove(0);
        let today = Date::new(2021, 7, 12).unwrap();
        let slots = [Slot {
            id: SlotId {
                centre_id: centre.id,
                date: today,
                hour: 9,
            },
            capacity: 2,
            booked: 0,
        }];
        let page = super::centre(&CentrePage {
            choice: LangChoice {
                lang: Lang::En,
                explicit: false,
            },
            centre: &centre,
            date: today,
            today,
            slots: &slots,
            form: FormState {
                name: "\" autofocus onfocus=\"x".to_owned(),
                birth_date: "<img>".to_owned(),
                error: Some((Some(Field::Name), HOSTILE.to_owned())),
                idempotency_key: "k".to_owned(),
                ..FormState::default()
            },
        });
        assert!(page.contains("value=\"&quot; autofocus onfocus=&quot;x\""));
        assert!(page.contains("value=\"&lt;img&gt;\""));
        assert!(page.contains(&format!("role=\"alert\">{ESCAPED}</p>")));
        assert!(!page.contains("<img") && !page.contains("<script"));
        // Only the field the error is about points at it.
        assert_eq!(page.matches("aria-describedby=\"form-error\"").count(), 1);
    }
}
