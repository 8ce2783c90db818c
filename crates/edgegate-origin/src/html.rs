//! The HTML pages, rendered as strings: no template engine, no scripts.
//!
//! Every page has `<html lang>`, one `<h1>` inside `<main>`, a banner with a language switch and
//! a footer (so all content sits in a landmark), a `<label for>` on every input, and colours with
//! at least 7:1 contrast; pages are checked with axe-core. Every value from outside is escaped
//! with [`escape`].

use std::fmt::Write as _;

use crate::booking::{Field, MAX_NAME_CHARS};
use crate::date::Date;
use crate::domain::{window, Booking, Centre, Slot, DOSES};
use crate::lang::{Lang, LangChoice};

/// Escapes text for element content and for double- or single-quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

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
fn layout(lang: Lang, h1: &str, switch_href: &str, home_href: &str, main: &str) -> String {
    let t = lang.texts();
    let other = lang.other();
    format!(
        "<!doctype html>\n<html lang=\"{code}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · {site}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header>\n<a class=\"site\" href=\"{home}\">{site}</a>\n\
         <nav aria-label=\"{lang_nav}\"><ul><li><a href=\"{switch}\" lang=\"{other_code}\" \
         hreflang=\"{other_code}\">{switch_label}</a></li></ul></nav>\n</header>\n\
         <main>\n<h1>{title}</h1>\n{main}</main>\n\
         <footer><p>{footer}</p></footer>\n</body>\n</html>\n",
        code = lang.code(),
        title = escape(h1),
        site = t.site,
        home = escape(home_href),
        lang_nav = t.lang_nav,
        switch = escape(switch_href),
        other_code = other.code(),
        switch_label = t.switch_label,
        footer = t.footer,
    )
}

fn home_href(choice: LangChoice) -> String {
    format!("/{}", choice.link_suffix(true))
}

fn centre_name(lang: Lang, centre: &Centre) -> &str {
    match lang {
        Lang::Ko => &centre.name_ko,
        Lang::En => &centre.name_en,
    }
}

/// `GET /`: the centres, grouped by city in seed order.
pub(crate) fn home(choice: LangChoice, centres: &[Centre]) -> String {
    let lang = choice.lang;
    let t = lang.texts();
    let mut main = format!("<p>{}</p>\n", t.home_intro);
    let mut cities: Vec<&str> = Vec::new();
    for centre in centres {
        if !cities.contains(&centre.city_en.as_str()) {
            cities.push(&centre.city_en);
        }
    }
    for (n, city) in cities.iter().enumerate() {
        let in_city: Vec<&Centre> = centres.iter().filter(|c| c.city_en == *city).collect();
        let Some(first) = in_city.first() else {
            continue;
        };
        let city_name = match lang {
            Lang::Ko => &first.city_ko,
            Lang::En => &first.city_en,
        };
        let _ = write!(
            main,
            "<section aria-labelledby=\"city-{n}\">\n<h2 id=\"city-{n}\">{}</h2>\n<ul class=\"centres\">\n",
            escape(city_name)
        );
        for centre in in_city {
            let district = match lang {
                Lang::Ko => &centre.district_ko,
                Lang::En => &centre.district_en,
            };
            let _ = writeln!(
                main,
                "<li><a class=\"centre\" href=\"/centres/{id}{suffix}\">{name}</a> \
                 <span class=\"muted\">· {district}</span></li>",
                id = centre.id,
                suffix = choice.link_suffix(true),
                name = escape(centre_name(lang, centre)),
                district = escape(district),
            );
        }
        main.push_str("</ul>\n</section>\n");
    }
    layout(
        lang,
        t.home_h1,
        &format!("/?lang={}", lang.other().code()),
        &home_href(choice),
        &main,
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
        today,
        slots,
        form,
    } = page;
    let lang = choice.lang;
    let t = lang.texts();
    let id = centre.id;
    let (city, district) = match lang {
        Lang::Ko => (&centre.city_ko, &centre.district_ko),
        Lang::En => (&centre.city_en, &centre.district_en),
    };
    let mut main = format!(
        "<p class=\"muted\">{} · {}</p>\n<p><a href=\"{}\">{}</a></p>\n",
        escape(city),
        escape(district),
        escape(&home_href(*choice)),
        t.back_to_centres
    );

    let _ = writeln!(
        main,
        "<nav class=\"dates\" aria-label=\"{}\"><ul>",
        t.dates_nav
    );
    for day in window(*today) {
        let current = if day == *date {
            " aria-current=\"date\""
        } else {
            ""
        };
        let _ = writeln!(
            main,
            "<li><a href=\"/centres/{id}?date={day}{suffix}\"{current}>{label}</a></li>",
            suffix = escape(&choice.link_suffix(false)),
            label = escape(&lang.short_date(day)),
        );
    }
    main.push_str("</ul></nav>\n");

    let _ = writeln!(
        main,
        "<h2>{} · {}</h2>",
        t.times_heading,
        escape(&lang.long_date(*date))
    );
    if let Some((_, message)) = &form.error {
        let _ = writeln!(
            main,
            "<p class=\"error\" id=\"form-error\" role=\"alert\">{}</p>",
            escape(message)
        );
    }
    if slots.iter().all(|s| s.remaining() == 0) {
        let _ = writeln!(main, "<p>{}</p>", t.no_slots);
        return layout(
            lang,
            centre_name(lang, centre),
            &switch_to_centre(page),
            &home_href(*choice),
            &main,
        );
    }

    let error_on = |field: Field| match &form.error {
        Some((Some(f), _)) if *f == field => {
            " aria-invalid=\"true\" aria-describedby=\"form-error\""
        }
        _ => "",
    };
    let _ = writeln!(
        main,
        "<form method=\"post\" action=\"/book{}\">",
        escape(&choice.link_suffix(true))
    );
    let _ = writeln!(
        main,
        "<input type=\"hidden\" name=\"idempotency_key\" value=\"{}\">\n\
         <input type=\"hidden\" name=\"centre\" value=\"{id}\">\n\
         <input type=\"hidden\" name=\"date\" value=\"{date}\">",
        escape(&form.idempotency_key)
    );
    let _ = writeln!(main, "<fieldset><legend>{}</legend>", t.slot_legend);
    for slot in slots.iter() {
        let slot_id = slot.id.to_string();
        if slot.remaining() == 0 {
            let _ = writeln!(
                main,
                "<div class=\"slot full\">{} · {}</div>",
                slot.id.time(),
                t.full
            );
            continue;
        }
        let checked = if form.slot_id.as_deref() == Some(slot_id.as_str()) {
            " checked"
        } else {
            ""
        };
        let _ = writeln!(
            main,
            "<div class=\"slot\"><input type=\"radio\" id=\"slot-{slot_id}\" name=\"slot_id\" \
             value=\"{slot_id}\" required{checked}{invalid}> <label for=\"slot-{slot_id}\">{time} · {seats}</label></div>",
            invalid = error_on(Field::SlotId),
            time = slot.id.time(),
            seats = escape(&lang.seats_left(slot.remaining())),
        );
    }
    main.push_str("</fieldset>\n");

    let _ = writeln!(main, "<h3>{}</h3>", t.details_heading);
    let _ = writeln!(
        main,
        "<div class=\"field\"><label for=\"name\">{label}</label>\
         <input type=\"text\" id=\"name\" name=\"name\" value=\"{value}\" maxlength=\"{MAX_NAME_CHARS}\" \
         autocomplete=\"name\" required{invalid}></div>",
        label = t.name_label,
        value = escape(&form.name),
        invalid = error_on(Field::Name),
    );
    let _ = writeln!(
        main,
        "<div class=\"field\"><label for=\"birth_date\">{label}</label>\
         <input type=\"date\" id=\"birth_date\" name=\"birth_date\" value=\"{value}\" \
         min=\"1900-01-01\" max=\"{today}\" autocomplete=\"bday\" required{invalid}></div>",
        label = t.birth_label,
        value = escape(&form.birth_date),
        invalid = error_on(Field::BirthDate),
    );
    let _ = write!(
        main,
        "<div class=\"field\"><label for=\"dose\">{label}</label>\
         <select id=\"dose\" name=\"dose\" required{invalid}>",
        label = t.dose_label,
        invalid = error_on(Field::Dose),
    );
    for dose in DOSES {
        let selected = if form.dose == Some(dose) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            main,
            "<option value=\"{dose}\"{selected}>{}</option>",
            lang.dose(dose)
        );
    }
    main.push_str("</select></div>\n");
    let _ = writeln!(
        main,
        "<button type=\"submit\">{}</button>\n</form>",
        t.submit
    );
    layout(
        lang,
        centre_name(lang, centre),
        &switch_to_centre(page),
        &home_href(*choice),
        &main,
    )
}

fn switch_to_centre(page: &CentrePage<'_>) -> String {
    format!(
        "/centres/{}?date={}&lang={}",
        page.centre.id,
        page.date,
        page.choice.lang.other().code()
    )
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
    let main = format!(
        "<dl>\n<dt>{booking_id}</dt><dd id=\"booking-id\">{id}</dd>\n\
         <dt>{centre_label}</dt><dd>{centre}</dd>\n<dt>{date_label}</dt><dd>{date}</dd>\n\
         <dt>{time_label}</dt><dd>{time}</dd>\n<dt>{dose_label}</dt><dd>{dose}</dd>\n</dl>\n\
         <p>{keep}</p>\n",
        booking_id = t.booking_id,
        id = escape(&booking.id),
        centre_label = t.centre,
        centre = escape(centre_name(lang, centre)),
        date_label = t.date,
        date = escape(&lang.long_date(booking.slot.date)),
        time_label = t.time,
        time = booking.slot.time(),
        dose_label = t.dose,
        dose = lang.dose(booking.dose),
        keep = t.keep_id,
    );
    let h1 = if confirmed {
        t.confirmed_h1
    } else {
        t.booking_h1
    };
    layout(
        lang,
        h1,
        &format!(
            "/bookings/{}?lang={}",
            escape(&booking.id),
            lang.other().code()
        ),
        &home_href(choice),
        &main,
    )
}

/// A page with a heading, one message and a way back: 404, 403, 400, 500.
pub(crate) fn message(choice: LangChoice, h1: &str, text: &str) -> String {
    let lang = choice.lang;
    let main = format!(
        "<p>{}</p>\n<p><a href=\"{}\">{}</a></p>\n",
        escape(text),
        escape(&home_href(choice)),
        lang.texts().back_to_centres
    );
    layout(
        lang,
        h1,
        &format!("/?lang={}", lang.other().code()),
        &home_href(choice),
        &main,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
