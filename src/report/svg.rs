//! Inline SVG charts for the report: line charts (ROC, calibration, gating), a
//! horizontal bar chart (top factors) and a heat map (risk by segment). Every chart is
//! an `<svg role="img">` with a `<title>` and `<desc>` it is labelled by, scales to its
//! container through its `viewBox`, and escapes every text it draws.

use std::fmt::Write;

use super::html::escape;

/// Colours that stay apart for colour-blind readers and in grey print (the baseline is
/// also dashed).
pub const MODEL_COLOUR: &str = "#1f5fa8";
pub const BASELINE_COLOUR: &str = "#c2410c";
const REFERENCE_COLOUR: &str = "#8a8f98";
const GRID_COLOUR: &str = "#e3e6ea";
const INK: &str = "#1c2330";

/// The opening `<svg>` tag, its title and description.
fn open(out: &mut String, id: &str, width: f64, height: f64, title: &str, desc: &str) {
    let id = escape(id);
    let _ = write!(
        out,
        r#"<svg id="{id}" role="img" aria-labelledby="{id}-title {id}-desc" viewBox="0 0 {width} {height}" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" font-size="14" fill="{INK}"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(title),
        escape(desc)
    );
}

/// A number with at most `digits` decimals and no trailing zeros, for SVG coordinates.
fn n(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// A share as a percentage label (`0.25` -> `25%`).
pub fn percent_label(v: f64) -> String {
    let p = 100.0 * v;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// One line of a line chart.
pub struct Series<'a> {
    pub name: &'a str,
    pub points: &'a [(f64, f64)],
    pub colour: &'a str,
    pub dashed: bool,
    /// Draw a dot on every point (few points, such as reliability bins).
    pub markers: bool,
}

/// A line chart over `[0, x_max] x [0, y_max]`, axes labelled as percentages.
pub struct LineChart<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub desc: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub x_max: f64,
    pub y_max: f64,
    /// Label of the dotted y = x reference line, if drawn.
    pub diagonal: Option<&'a str>,
    pub series: Vec<Series<'a>>,
}

const W: f64 = 440.0;
const H: f64 = 350.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// Five or so round tick values from 0 to `max`.
fn ticks(max: f64) -> Vec<f64> {
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw - 1e-12)
        .unwrap_or(raw);
    let count = (max / step + 1e-9).floor() as usize;
    (0..=count).map(|k| k as f64 * step).collect()
}

/// Renders a line chart.
pub fn line_chart(c: &LineChart) -> String {
    let mut out = String::new();
    open(&mut out, c.id, W, H, c.title, c.desc);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let x = |v: f64| LEFT + pw * (v / c.x_max).clamp(0.0, 1.0);
    let y = |v: f64| TOP + ph * (1.0 - (v / c.y_max).clamp(0.0, 1.0));
    // Grid and tick labels.
    for t in ticks(c.x_max) {
        let _ = write!(
            out,
            r#"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="{GRID_COLOUR}"/><text x="{0}" y="{3}" text-anchor="middle" font-size="13">{4}</text>"#,
            n(x(t)),
            n(TOP),
            n(TOP + ph),
            n(TOP + ph + 18.0),
            percent_label(t)
        );
    }
    for t in ticks(c.y_max) {
        let _ = write!(
            out,
            r#"<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="{GRID_COLOUR}"/><text x="{3}" y="{4}" text-anchor="end" font-size="13">{5}</text>"#,
            n(LEFT),
            n(y(t)),
            n(LEFT + pw),
            n(LEFT - 6.0),
            n(y(t) + 4.5),
            percent_label(t)
        );
    }
    let _ = write!(
        out,
        r#"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="{REFERENCE_COLOUR}"/>"#,
        n(LEFT),
        n(TOP),
        n(pw),
        n(ph)
    );
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text><text transform="translate(14 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
        n(LEFT + pw / 2.0),
        n(H - 8.0),
        escape(c.x_label),
        n(TOP + ph / 2.0),
        escape(c.y_label)
    );
    // Legend in the top margin: the series, then the reference line.
    let mut legend: Vec<(&str, &str, bool)> = c
        .series
        .iter()
        .map(|s| (s.name, s.colour, s.dashed))
        .collect();
    if let Some(label) = c.diagonal {
        let top = c.x_max.min(c.y_max);
        let _ = write!(
            out,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{REFERENCE_COLOUR}" stroke-dasharray="2 4"/>"#,
            n(x(0.0)),
            n(y(0.0)),
            n(x(top)),
            n(y(top))
        );
        legend.push((label, REFERENCE_COLOUR, true));
    }
    let mut lx = LEFT;
    for (name, colour, dashed) in legend {
        let dash = if dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<line x1="{}" y1="18" x2="{}" y2="18" stroke="{colour}" stroke-width="3"{dash}/><text x="{}" y="23">{}</text>"#,
            n(lx),
            n(lx + 22.0),
            n(lx + 27.0),
            escape(name)
        );
        lx += 46.0 + 8.0 * name.chars().count() as f64;
    }
    for s in &c.series {
        let path: Vec<String> = s
            .points
            .iter()
            .map(|&(px, py)| format!("{},{}", n(x(px)), n(y(py))))
            .collect();
        let dash = if s.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{}" stroke-width="2.5" stroke-linejoin="round"{dash} points="{}"/>"#,
            s.colour,
            path.join(" ")
        );
        if s.markers {
            for &(px, py) in s.points {
                let _ = write!(
                    out,
                    r#"<circle cx="{}" cy="{}" r="3.5" fill="{}"/>"#,
                    n(x(px)),
                    n(y(py)),
                    s.colour
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

/// One bar: its label, length, the text printed beside it, and whether the feature
/// raises risk (orange) or lowers it (blue).
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub text: String,
    pub raises_risk: bool,
}

/// A horizontal bar chart of non-negative values, longest first as given.
pub fn bar_chart(id: &str, title: &str, desc: &str, bars: &[Bar]) -> String {
    let (label_w, text_w, row_h) = (230.0, 56.0, 28.0);
    let width = 600.0;
    let height = 12.0 + row_h * bars.len().max(1) as f64;
    let mut out = String::new();
    open(&mut out, id, width, height, title, desc);
    let max = bars.iter().map(|b| b.value).fold(0.0, f64::max).max(1e-12);
    let plot_w = width - label_w - text_w;
    for (k, bar) in bars.iter().enumerate() {
        let top = 6.0 + row_h * k as f64;
        let len = plot_w * bar.value.max(0.0) / max;
        let colour = if bar.raises_risk {
            BASELINE_COLOUR
        } else {
            MODEL_COLOUR
        };
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text><rect x="{}" y="{}" width="{}" height="{}" fill="{colour}"/><text x="{}" y="{}" font-size="13">{}</text>"#,
            n(label_w - 8.0),
            n(top + row_h / 2.0 + 4.0),
            escape(&bar.label),
            n(label_w),
            n(top + 3.0),
            n(len.max(0.5)),
            n(row_h - 6.0),
            n(label_w + len + 4.0),
            n(top + row_h / 2.0 + 4.0),
            escape(&bar.text)
        );
    }
    let _ = write!(
        out,
        r#"<line x1="{0}" y1="2" x2="{0}" y2="{1}" stroke="{REFERENCE_COLOUR}"/>"#,
        n(label_w),
        n(height - 2.0)
    );
    out.push_str("</svg>");
    out
}

/// One heat-map cell: its fill value (0..=1 of the colour scale) and up to two lines.
pub struct Cell {
    pub value: Option<f64>,
    pub line1: String,
    pub line2: String,
}

/// A heat map: `rows` labels down the side, `columns` along the top, `cells` row-major;
/// `axes` names what the rows and the columns are.
pub fn heat_map(
    id: &str,
    title: &str,
    desc: &str,
    axes: (&str, &str),
    rows: &[String],
    columns: &[String],
    cells: &[Cell],
) -> String {
    let (label_w, head_h, cell_w, cell_h) = (170.0, 46.0, 104.0, 44.0);
    let width = label_w + cell_w * columns.len() as f64 + 4.0;
    let height = head_h + cell_h * rows.len() as f64 + 4.0;
    let mut out = String::new();
    open(&mut out, id, width, height, title, desc);
    let _ = write!(
        out,
        r#"<text x="2" y="16" font-size="12">{}</text><text x="{}" y="16" font-size="12" text-anchor="middle">{}</text>"#,
        escape(axes.0),
        n(label_w + cell_w * columns.len() as f64 / 2.0),
        escape(axes.1)
    );
    for (j, column) in columns.iter().enumerate() {
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle" font-weight="600">{}</text>"#,
            n(label_w + cell_w * (j as f64 + 0.5)),
            n(head_h - 8.0),
            escape(column)
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let top = head_h + cell_h * i as f64;
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            n(label_w - 8.0),
            n(top + cell_h / 2.0 + 4.0),
            escape(row)
        );
        for j in 0..columns.len() {
            let Some(cell) = cells.get(i * columns.len() + j) else {
                continue;
            };
            let left = label_w + cell_w * j as f64;
            let (fill, ink) = match cell.value {
                Some(v) => heat(v),
                None => ("#f3f4f6".to_string(), "#6b7280"),
            };
            let _ = write!(
                out,
                r##"<rect x="{}" y="{}" width="{}" height="{}" fill="{fill}" stroke="#ffffff" stroke-width="2"/><text x="{}" y="{}" text-anchor="middle" fill="{ink}" font-weight="600">{}</text><text x="{}" y="{}" text-anchor="middle" fill="{ink}" font-size="12">{}</text>"##,
                n(left),
                n(top),
                n(cell_w),
                n(cell_h),
                n(left + cell_w / 2.0),
                n(top + 19.0),
                escape(&cell.line1),
                n(left + cell_w / 2.0),
                n(top + 35.0),
                escape(&cell.line2)
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// Fill and text colour for a heat-map value in 0..=1: pale yellow to deep red.
fn heat(v: f64) -> (String, &'static str) {
    let v = v.clamp(0.0, 1.0);
    let stops = [
        (255.0, 247.0, 214.0),
        (244.0, 143.0, 66.0),
        (153.0, 27.0, 30.0),
    ];
    let (a, b, t) = if v < 0.5 {
        (stops[0], stops[1], v / 0.5)
    } else {
        (stops[1], stops[2], (v - 0.5) / 0.5)
    };
    let mix = |p: f64, q: f64| (p + (q - p) * t).round() as u8;
    let fill = format!(
        "#{:02x}{:02x}{:02x}",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    );
    let ink = if v > 0.55 { "#ffffff" } else { INK };
    (fill, ink)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        let close = |got: Vec<f64>, want: &[f64]| {
            assert_eq!(got.len(), want.len(), "{got:?}");
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-12, "{got:?}");
            }
        };
        close(ticks(1.0), &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        // A step of 0.06 rounds up to 0.1.
        close(ticks(0.3), &[0.0, 0.1, 0.2, 0.3]);
        // The calibration chart's 90% axis stops at the last round tick.
        close(ticks(0.9), &[0.0, 0.2, 0.4, 0.6, 0.8]);
    }

    #[test]
    fn every_text_is_escaped() {
        let svg = bar_chart(
            "f",
            "<t>",
            "a & b",
            &[Bar {
                label: "<script>".into(),
                value: 1.0,
                text: "\"x\"".into(),
                raises_risk: true,
            }],
        );
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("a &amp; b"));
        assert!(svg.contains("&quot;x&quot;"));
    }

    #[test]
    fn heat_runs_pale_to_dark() {
        assert_eq!(heat(0.0).0, "#fff7d6");
        assert_eq!(heat(1.0).0, "#991b1e");
        assert_eq!(heat(1.0).1, "#ffffff");
    }
}
