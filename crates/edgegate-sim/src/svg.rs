//! A picture of a run, as hand-written SVG, in three panels over the seconds after midnight:
//! let-through per second against the rate and its bounds; requests per second reaching the
//! room coordinator against one per location; and requests per second reaching the busiest
//! aggregator of each second against the issue's 1,000. Coordinator outages are shaded red
//! across all three, a location's aggregator out of reach amber.

use std::fmt::Write;

use crate::report::Summary;
use crate::scenario::Scenario;

const W: f64 = 1000.0;
const PANEL_H: f64 = 200.0;
const LEFT: f64 = 60.0;
const GAP: f64 = 60.0;
const TOP: f64 = 30.0;

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

/// A dashed line across a panel, labelled at its right end, or at its left end (so that two
/// lines close together do not print their labels over each other).
fn hline(out: &mut String, y: f64, colour: &str, label: &str, left: bool) {
    let (x, anchor) = if left {
        (LEFT + 4.0, "start")
    } else {
        (W - 4.0, "end")
    };
    let _ = writeln!(
        out,
        r#"<line x1="{LEFT}" x2="{W}" y1="{y:.1}" y2="{y:.1}" stroke="{colour}" stroke-dasharray="4 3"/><text x="{x:.1}" y="{:.1}" font-size="11" fill="{colour}" text-anchor="{anchor}">{label}</text>"#,
        y - 3.0
    );
}

/// One panel: a title, a series, dashed reference lines `(value, colour, label)`, and its axis.
struct Panel<'a> {
    title: String,
    values: &'a [u64],
    colour: &'a str,
    lines: Vec<(f64, &'a str, String)>,
}

/// A reference line more than this many times the highest value is left off its panel (and
/// the title says so), rather than squash the series flat against the axis.
const OFF_SCALE: f64 = 4.0;

impl Panel<'_> {
    #[allow(clippy::cast_precision_loss, reason = "pixels")]
    fn highest(&self) -> f64 {
        (self.values.iter().copied().max().unwrap_or(0) as f64).max(1.0)
    }

    /// The reference lines drawn: those within [`OFF_SCALE`] of the series.
    fn shown(&self) -> impl Iterator<Item = &(f64, &str, String)> {
        let highest = self.highest();
        self.lines
            .iter()
            .filter(move |l| l.0 <= highest * OFF_SCALE)
    }

    /// The panel's scale: its highest value or reference line shown, with some headroom.
    fn top(&self) -> f64 {
        self.shown().fold(self.highest(), |m, l| m.max(l.0)) * 1.15
    }

    fn draw(&self, s: &mut String, base: f64, x_of: &dyn Fn(usize) -> f64) {
        let top = self.top();
        let y_of = |v: f64| base + PANEL_H * (1.0 - v / top);
        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="{:.1}" font-size="13">{}</text>"#,
            base - 10.0,
            self.title
        );
        polyline(s, self.values, x_of, &y_of, self.colour);
        for (i, (value, colour, label)) in self.shown().enumerate() {
            hline(s, y_of(*value), colour, label, i % 2 == 1);
        }
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{LEFT}" y1="{base}" y2="{:.1}" stroke="#444"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{top:.0}</text><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">0</text>"##,
            base + PANEL_H,
            LEFT - 4.0,
            base + 10.0,
            LEFT - 4.0,
            base + PANEL_H
        );
    }
}

/// The SVG text for a run: `let_through`, `coordinator` and `aggregator` (the busiest one each
/// second) per second after midnight.
#[allow(clippy::cast_precision_loss, reason = "pixels")]
pub fn picture(
    sc: &Scenario,
    summary: &Summary,
    let_through: &[u64],
    coordinator: &[u64],
    aggregator: &[u64],
    origin: &[u64],
) -> String {
    let seconds = let_through
        .len()
        .max(coordinator.len())
        .max(aggregator.len())
        .max(1);
    let x_of = |i: usize| LEFT + (W - LEFT) * (i as f64) / (seconds as f64);
    let rate_s = f64::from(sc.room.new_users_per_minute) / 60.0;
    let agg_target = summary.aggregators.target_per_second as f64;
    let mut panels = vec![
        Panel {
            title: format!(
                "{}: let-through per second (worst 1-s window {} vs target {:.1}; bound {:.1}){}",
                sc.name,
                summary.rate.worst_window,
                summary.rate.target,
                summary.rate.bound_one_isolate,
                if sc.room.autopilot.is_some() {
                    "; the autopilot moved the rate, the lines are its first"
                } else {
                    ""
                }
            ),
            values: let_through,
            colour: "#1f5fbf",
            lines: vec![
                (
                    summary.rate.target,
                    "#c60",
                    format!("target {:.1}/s", summary.rate.target),
                ),
                (rate_s, "#2a2", format!("rate {rate_s:.1}/s")),
            ],
        },
        Panel {
            title: format!(
                "room-coordinator requests per second (worst {}; target one per location, {})",
                summary.coordinator.worst_requests_per_second, sc.locations
            ),
            values: coordinator,
            colour: "#7a3fb0",
            lines: vec![(
                f64::from(sc.locations),
                "#c60",
                format!("{} locations", sc.locations),
            )],
        },
        Panel {
            title: format!(
                "requests per second at the busiest aggregator (worst {}, location {}; target {}{})",
                summary.aggregators.worst_requests_per_second,
                summary.aggregators.worst_location,
                summary.aggregators.target_per_second,
                if (summary.aggregators.worst_requests_per_second as f64) * OFF_SCALE < agg_target {
                    ", off the scale"
                } else {
                    ""
                }
            ),
            values: aggregator,
            colour: "#0a7d6e",
            lines: vec![
                (agg_target, "#c60", format!("target {agg_target:.0}")),
                (
                    f64::from(summary.aggregators.isolates_most),
                    "#888",
                    format!(
                        "{} isolates in the busiest location",
                        summary.aggregators.isolates_most
                    ),
                ),
            ],
        },
    ];
    if let (Some(model), Some(figures)) = (sc.origin.as_ref(), summary.origin.as_ref()) {
        let mut capacities = vec![(0u64, model.capacity_per_s)];
        capacities.extend(model.changes.iter().map(|c| (c.at_s, c.capacity_per_s)));
        let said: Vec<String> = capacities
            .iter()
            .map(|(at, c)| format!("{c} from {at} s"))
            .collect();
        panels.push(Panel {
            title: format!(
                "requests per second sent to the origin (capacity {}; {} of {} refused; {} rate changes by the autopilot)",
                said.join(", "),
                figures.refused_503,
                figures.requests,
                figures.rate_changes
            ),
            values: origin,
            colour: "#b03060",
            lines: capacities
                .iter()
                .map(|(at, c)| (f64::from(*c), "#c60", format!("capacity {c}/s from {at} s")))
                .collect(),
        });
    }
    let bases: Vec<f64> = (0..panels.len())
        .map(|i| TOP + (PANEL_H + GAP) * (i as f64))
        .collect();
    let bottom = bases.last().copied().unwrap_or(TOP) + PANEL_H;
    let h = bottom + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>"#
    );
    let windows = sc
        .outages
        .iter()
        .map(|o| {
            (
                o.from_s,
                o.for_s,
                "#fde2e2",
                "#b00",
                "coordinator out of reach".to_owned(),
            )
        })
        .chain(sc.location_outages.iter().map(|o| {
            (
                o.from_s,
                o.for_s,
                "#fdf0c8",
                "#a60",
                format!("aggregator of location {} out of reach", o.location),
            )
        }));
    for (from_s, for_s, fill, ink, label) in windows {
        let (a, b) = (
            x_of(usize::try_from(from_s).unwrap_or(0)),
            x_of(usize::try_from(from_s + for_s).unwrap_or(0)),
        );
        let _ = writeln!(
            s,
            r#"<rect x="{a:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="{fill}"/><text x="{a:.1}" y="{:.1}" font-size="11" fill="{ink}">{label}</text>"#,
            (b - a).max(1.0),
            bottom - TOP,
            bottom + 12.0
        );
    }
    for (panel, base) in panels.iter().zip(&bases) {
        panel.draw(&mut s, *base, &x_of);
    }
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{:.1}" font-size="11">seconds after midnight: 0 … {seconds}</text></svg>"#,
        h - 10.0
    );
    s
}
