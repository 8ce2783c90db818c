//! A picture of a run, as hand-written SVG: let-through per second against the rate and its
//! bounds (top), and requests per second reaching the room coordinator (bottom), with any
//! coordinator outage shaded.

use std::fmt::Write;

use crate::report::Summary;
use crate::scenario::Scenario;

const W: f64 = 1000.0;
const PANEL_H: f64 = 220.0;
const LEFT: f64 = 60.0;
const GAP: f64 = 60.0;

#[allow(clippy::cast_precision_loss, reason = "pixels")]
fn polyline(
    out: &mut String,
    values: &[u64],
    x_of: &dyn Fn(usize) -> f64,
    y_of: &dyn Fn(f64) -> f64,
    colour: &str,
) {
    let mut points = String::new();
    for (i, v) in values.iter().enumerate() {
        let _ = write!(points, "{:.1},{:.1} ", x_of(i), y_of(*v as f64));
    }
    let _ = writeln!(
        out,
        r#"<polyline fill="none" stroke="{colour}" stroke-width="1" points="{points}"/>"#
    );
}

fn hline(out: &mut String, y: f64, colour: &str, label: &str) {
    let _ = writeln!(
        out,
        r#"<line x1="{LEFT}" x2="{W}" y1="{y:.1}" y2="{y:.1}" stroke="{colour}" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" font-size="11" fill="{colour}" text-anchor="end">{label}</text>"#,
        W - 4.0,
        y - 3.0
    );
}

/// The SVG text for a run: `let_through` and `coordinator` per second after midnight.
#[allow(clippy::cast_precision_loss, reason = "pixels")]
pub fn picture(
    sc: &Scenario,
    summary: &Summary,
    let_through: &[u64],
    coordinator: &[u64],
) -> String {
    let seconds = let_through.len().max(coordinator.len()).max(1);
    let x_of = |i: usize| LEFT + (W - LEFT) * (i as f64) / (seconds as f64);
    let rate_s = f64::from(sc.room.new_users_per_minute) / 60.0;
    let top = (let_through.iter().copied().max().unwrap_or(0) as f64)
        .max(summary.rate.bound_one_isolate)
        * 1.15;
    let y1 = |v: f64| 30.0 + PANEL_H * (1.0 - v / top.max(1.0));
    let ctop =
        (coordinator.iter().copied().max().unwrap_or(0) as f64).max(f64::from(sc.locations)) * 1.15;
    let base2 = 30.0 + PANEL_H + GAP;
    let y2 = |v: f64| base2 + PANEL_H * (1.0 - v / ctop.max(1.0));
    let h = base2 + PANEL_H + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>"#
    );
    for o in &sc.outages {
        let (a, b) = (
            x_of(usize::try_from(o.from_s).unwrap_or(0)),
            x_of(usize::try_from(o.from_s + o.for_s).unwrap_or(0)),
        );
        let _ = writeln!(
            s,
            r##"<rect x="{a:.1}" y="30" width="{:.1}" height="{:.1}" fill="#fde2e2"/><text x="{a:.1}" y="{:.1}" font-size="11" fill="#b00">coordinator out of reach</text>"##,
            (b - a).max(1.0),
            base2 + PANEL_H - 30.0,
            base2 + PANEL_H + 12.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="20" font-size="13">{}: let-through per second (worst window {} vs bound {:.1}; target {:.1})</text>"#,
        sc.name, summary.rate.worst_window, summary.rate.bound_one_isolate, summary.rate.target
    );
    polyline(&mut s, let_through, &x_of, &y1, "#1f5fbf");
    hline(&mut s, y1(rate_s), "#2a2", &format!("rate {rate_s:.1}/s"));
    hline(
        &mut s,
        y1(summary.rate.bound_one_isolate),
        "#c60",
        &format!("bound {:.1}/s", summary.rate.bound_one_isolate),
    );
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{:.1}" font-size="13">room-coordinator requests per second (worst {}; one per location would be {})</text>"#,
        base2 - 10.0,
        summary.coordinator.worst_requests_per_second,
        sc.locations
    );
    polyline(&mut s, coordinator, &x_of, &y2, "#7a3fb0");
    hline(
        &mut s,
        y2(f64::from(sc.locations)),
        "#c60",
        &format!("{} locations", sc.locations),
    );
    for (panel_top, max) in [(30.0, top), (base2, ctop)] {
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{LEFT}" y1="{panel_top}" y2="{:.1}" stroke="#444"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{:.0}</text><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">0</text>"##,
            panel_top + PANEL_H,
            LEFT - 4.0,
            panel_top + 10.0,
            max,
            LEFT - 4.0,
            panel_top + PANEL_H
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{:.1}" font-size="11">seconds after midnight: 0 … {seconds}</text></svg>"#,
        h - 10.0
    );
    s
}
