//! The bench chart as hand-written SVG text: on the left, per-call time against n for
//! calls-n (log-log, one line per backend and mode: live flat = linear total, replay
//! rising = quadratic); on the right, host calls per second of every throughput-style row
//! (throughput, http-step, multi-host) as horizontal bars. Drawing only.

use std::fmt::Write as _;

use super::report::Row;

const WIDTH: f64 = 980.0;
const HEIGHT: f64 = 460.0;
/// Left panel plot area.
const L: (f64, f64, f64, f64) = (70.0, 60.0, 430.0, 390.0);
/// Right panel plot area (bars start after the labels).
const R: (f64, f64, f64, f64) = (660.0, 60.0, 940.0, 390.0);
const COLORS: [&str; 4] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];

/// The whole SVG document for `rows` (panels without data say so).
pub fn chart(rows: &[Row]) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    latency_panel(&mut svg, rows);
    throughput_panel(&mut svg, rows);
    svg.push_str("</svg>\n");
    svg
}

/// One calls-n line: (label, points (n, ms per call)).
type Series = (String, Vec<(f64, f64)>);

fn latency_series(rows: &[Row]) -> Vec<Series> {
    let mut series: Vec<Series> = Vec::new();
    for row in rows.iter().filter(|r| r.scenario == "calls-n") {
        let (Some(n), Some(mode), Some(ms)) = (
            row.params["n"].as_f64(),
            row.params["mode"].as_str(),
            row.per_call_ms,
        ) else {
            continue;
        };
        if n < 1.0 || ms <= 0.0 {
            continue;
        }
        let label = format!("{} {mode}", row.backend);
        match series.iter_mut().find(|(l, _)| *l == label) {
            Some((_, points)) => points.push((n, ms)),
            None => series.push((label, vec![(n, ms)])),
        }
    }
    series
}

fn latency_panel(svg: &mut String, rows: &[Row]) {
    let (x0, y0, x1, y1) = L;
    title(svg, x0, "calls-n: ms per call vs n (log-log)");
    let series = latency_series(rows);
    let all: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    if all.is_empty() {
        empty(svg, (x0 + x1) / 2.0, (y0 + y1) / 2.0);
        return;
    }
    let decade = |v: f64, up: bool| {
        let e = v.log10();
        10f64.powf(if up { e.ceil() } else { e.floor() })
    };
    let n_max = decade(all.iter().map(|p| p.0).fold(1.0, f64::max), true).max(10.0);
    let ms_min = decade(all.iter().map(|p| p.1).fold(f64::MAX, f64::min), false);
    let ms_max = decade(all.iter().map(|p| p.1).fold(0.0, f64::max), true).max(ms_min * 10.0);
    let x = |n: f64| x0 + (n.log10() / n_max.log10()) * (x1 - x0);
    let y = |ms: f64| y1 - (ms / ms_min).log10() / (ms_max / ms_min).log10() * (y1 - y0);
    axes(svg, L);
    let mut n = 1.0;
    while n <= n_max {
        let _ = writeln!(
            svg,
            r##"<line x1="{0:.1}" y1="{y0}" x2="{0:.1}" y2="{y1}" stroke="#eeeeee"/><text x="{0:.1}" y="{1}" text-anchor="middle">{2}</text>"##,
            x(n),
            y1 + 16.0,
            n
        );
        n *= 10.0;
    }
    let mut ms = ms_min;
    while ms <= ms_max * 1.0001 {
        let _ = writeln!(
            svg,
            r##"<line x1="{x0}" y1="{0:.1}" x2="{x1}" y2="{0:.1}" stroke="#eeeeee"/><text x="{1}" y="{2:.1}" text-anchor="end">{3}</text>"##,
            y(ms),
            x0 - 6.0,
            y(ms) + 4.0,
            trim_number(ms)
        );
        ms *= 10.0;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">n (calls per task)</text>"#,
        (x0 + x1) / 2.0,
        y1 + 34.0
    );
    for (i, (label, points)) in series.iter().enumerate() {
        let color = COLORS[(i / 2) % COLORS.len()];
        let dash = if label.ends_with("replay") {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let path: Vec<String> = points
            .iter()
            .map(|&(n, ms)| format!("{:.1},{:.1}", x(n), y(ms)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
            path.join(" ")
        );
        for &(n, ms) in points {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"><title>{} n={n}: {ms:.3} ms/call</title></circle>"#,
                x(n),
                y(ms),
                escape(label)
            );
        }
        let ly = y0 + 14.0 + 16.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
            x1 - 130.0,
            x1 - 105.0,
            x1 - 100.0,
            ly + 4.0,
            escape(label)
        );
    }
}

fn throughput_panel(svg: &mut String, rows: &[Row]) {
    let (x0, y0, x1, y1) = R;
    title(
        svg,
        x0 - 140.0,
        "host calls per second (10-call runs, closed loop)",
    );
    let bars: Vec<(String, f64)> = rows
        .iter()
        .filter(|r| {
            matches!(
                r.scenario.as_str(),
                "throughput" | "http-step" | "multi-host"
            )
        })
        .filter_map(|r| {
            let label = match r.scenario.as_str() {
                "multi-host" => format!("postgres {}", r.variant),
                other => format!("{other} {}", r.backend),
            };
            r.calls_per_sec.map(|v| (label, v))
        })
        .collect();
    if bars.is_empty() {
        empty(svg, (x0 + x1) / 2.0 - 70.0, (y0 + y1) / 2.0);
        return;
    }
    let max = bars.iter().map(|b| b.1).fold(7_000.0, f64::max) * 1.1;
    let step = (y1 - y0) / bars.len() as f64;
    let height = (step * 0.7).min(28.0);
    for (i, (label, value)) in bars.iter().enumerate() {
        let top = y0 + step * i as f64 + (step - height) / 2.0;
        let width = value / max * (x1 - x0);
        let color = if label.starts_with("http-step") {
            COLORS[1]
        } else if label.contains("host") {
            COLORS[2]
        } else {
            COLORS[0]
        };
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text><rect x="{x0}" y="{top:.1}" width="{width:.1}" height="{height:.1}" fill="{color}"/><text x="{:.1}" y="{:.1}">{value:.0}</text>"#,
            x0 - 6.0,
            top + height / 2.0 + 4.0,
            escape(label),
            x0 + width + 4.0,
            top + height / 2.0 + 4.0
        );
    }
    let target = x0 + 7_000.0 / max * (x1 - x0);
    let _ = writeln!(
        svg,
        r##"<line x1="{target:.1}" y1="{y0}" x2="{target:.1}" y2="{y1}" stroke="#555555" stroke-dasharray="4 3"/><text x="{target:.1}" y="{}" text-anchor="middle">target 7000</text>"##,
        y1 + 16.0
    );
    let _ = writeln!(
        svg,
        r##"<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#333333"/>"##
    );
}

fn title(svg: &mut String, x: f64, text: &str) {
    let _ = writeln!(
        svg,
        r#"<text x="{x}" y="30" font-size="14" font-weight="bold">{}</text>"#,
        escape(text)
    );
}

fn axes(svg: &mut String, (x0, y0, x1, y1): (f64, f64, f64, f64)) {
    let _ = writeln!(
        svg,
        r##"<polyline points="{x0},{y0} {x0},{y1} {x1},{y1}" fill="none" stroke="#333333"/>"##
    );
}

fn empty(svg: &mut String, x: f64, y: f64) {
    let _ = writeln!(
        svg,
        r##"<text x="{x}" y="{y}" text-anchor="middle" fill="#888888">no rows measured</text>"##
    );
}

fn trim_number(v: f64) -> String {
    let text = format!("{v:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls_row(backend: &str, mode: &str, n: u32, ms: f64) -> Row {
        let mut row = Row::new("calls-n", format!("n={n} {mode}"), backend)
            .param("n", n)
            .param("mode", mode);
        row.per_call_ms = Some(ms);
        row
    }

    #[test]
    fn draws_one_line_per_backend_and_mode_and_one_bar_per_load_row() {
        let mut rows = vec![
            calls_row("sqlite", "live", 1, 2.0),
            calls_row("sqlite", "live", 1000, 1.5),
            calls_row("sqlite", "replay", 1, 2.5),
            calls_row("sqlite", "replay", 1000, 15.0),
        ];
        let mut load = Row::new("throughput", "200 x 10 calls", "sqlite");
        load.calls_per_sec = Some(4321.0);
        rows.push(load);
        let svg = chart(&rows);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline points=").count(), 3); // 2 series + axes
        assert!(svg.contains("stroke-dasharray=\"6 4\""));
        assert!(svg.contains(">throughput sqlite</text>") && svg.contains(">4321</text>"));
    }

    #[test]
    fn empty_rows_still_make_a_valid_document() {
        let svg = chart(&[]);
        assert_eq!(svg.matches("no rows measured").count(), 2);
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
