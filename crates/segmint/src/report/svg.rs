//! Self-contained SVG charts for the report: bars, lines, box plots, scatter plots and
//! histograms, with "nice" axis ticks, a colour-blind-safe palette (Okabe & Ito) and a
//! `<title>` tooltip on every mark. No JavaScript, no fonts to load: a chart renders the same in
//! a browser, an e-mail client or a PNG rasterizer. Every text that comes from data goes
//! through [`escape`].

use std::fmt::Write;

/// Okabe & Ito's palette (safe for the common colour-vision deficiencies), blue first.
pub const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
];

/// Escapes text for SVG/HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // control characters are not allowed in XML 1.0
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Size and labels of a chart.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub width: f64,
    pub height: f64,
}

impl Chart {
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Chart {
        Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            width: 640.0,
            height: 360.0,
        }
    }
}

/// How values are printed on axes and tooltips.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    Number,
    Percent,
    Money,
}

/// A value in a [`Format`]: `12,345`, `12.3%`, `$1.2M`.
pub fn format_value(x: f64, f: Format) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    match f {
        Format::Percent => format!("{:.1}%", 100.0 * x),
        Format::Money => {
            let a = x.abs();
            let sign = if x < 0.0 { "-" } else { "" };
            if a >= 1e9 {
                format!("{sign}${:.1}B", a / 1e9)
            } else if a >= 1e6 {
                format!("{sign}${:.1}M", a / 1e6)
            } else if a >= 1e4 {
                format!("{sign}${:.0}k", a / 1e3)
            } else {
                format!("{sign}${a:.0}")
            }
        }
        Format::Number => {
            let a = x.abs();
            if a >= 1e6 {
                format!("{:.1}M", x / 1e6)
            } else if a >= 1e4 {
                format!("{:.0}k", x / 1e3)
            } else if a >= 100.0 || x == x.round() {
                format!("{x:.0}")
            } else if a >= 1.0 {
                format!("{x:.1}")
            } else {
                format!("{x:.2}")
            }
        }
    }
}

/// Ticks at 1, 2 or 5 x 10^k covering [lo, hi] with about `n` steps (Heckbert's "nice numbers").
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() && hi > lo {
        (lo, hi)
    } else if lo.is_finite() {
        (lo - 0.5, lo + 0.5)
    } else {
        (0.0, 1.0)
    };
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let (k0, k1) = (
        (lo / step + 1e-9).floor() as i64,
        (hi / step - 1e-9).ceil() as i64,
    );
    let mut out = Vec::new();
    for k in k0..=k1.min(k0 + 50) {
        // k x step printed at the step's precision: no 0.6000000000000001, no -0
        let t: f64 = format!("{:.*}", decimals, k as f64 * step)
            .parse()
            .unwrap_or(k as f64 * step);
        out.push(if t == 0.0 { 0.0 } else { t });
    }
    out
}

struct Frame {
    left: f64,
    top: f64,
    w: f64,
    h: f64,
}

fn open(c: &Chart, s: &mut String, label: &str) -> Frame {
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{a}" font-family="Helvetica, Arial, sans-serif" font-size="12">"##,
        w = c.width,
        h = c.height,
        a = escape(label)
    );
    let _ = write!(
        s,
        r##"<rect width="{}" height="{}" fill="#ffffff"/><text x="{}" y="20" font-size="15" font-weight="bold" text-anchor="middle" fill="#222">{}</text>"##,
        c.width,
        c.height,
        c.width / 2.0,
        escape(&c.title)
    );
    Frame {
        left: 70.0,
        top: 36.0,
        w: c.width - 90.0,
        h: c.height - 86.0,
    }
}

fn axes_labels(c: &Chart, f: &Frame, s: &mut String) {
    let _ = write!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#444">{}</text>"##,
        f.left + f.w / 2.0,
        c.height - 8.0,
        escape(&c.x_label)
    );
    let _ = write!(
        s,
        r##"<text transform="translate(14 {}) rotate(-90)" text-anchor="middle" fill="#444">{}</text>"##,
        f.top + f.h / 2.0,
        escape(&c.y_label)
    );
}

/// Horizontal grid and labels of a value axis on the left.
fn y_axis(
    f: &Frame,
    ticks: &[f64],
    lo: f64,
    hi: f64,
    fmt: Format,
    s: &mut String,
) -> impl Fn(f64) -> f64 {
    let (top, h) = (f.top, f.h);
    let y = move |v: f64| top + h - (v - lo) / (hi - lo) * h;
    for &t in ticks {
        let yy = y(t);
        let _ = write!(
            s,
            r##"<line x1="{}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e3e3e3"/><text x="{}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            f.left,
            f.left + f.w,
            f.left - 6.0,
            yy + 4.0,
            escape(&format_value(t, fmt))
        );
    }
    y
}

fn x_axis(
    f: &Frame,
    ticks: &[f64],
    lo: f64,
    hi: f64,
    fmt: Format,
    s: &mut String,
) -> impl Fn(f64) -> f64 {
    let (left, w) = (f.left, f.w);
    let x = move |v: f64| left + (v - lo) / (hi - lo) * w;
    for &t in ticks {
        let xx = x(t);
        let _ = write!(
            s,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{}" y2="{}" stroke="#e3e3e3"/><text x="{xx:.1}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
            f.top,
            f.top + f.h,
            f.top + f.h + 16.0,
            escape(&format_value(t, fmt))
        );
    }
    x
}

/// A white box behind a legend of `names` (one line each, 16 px apart).
fn legend_box<'a>(s: &mut String, x: f64, y: f64, names: impl Iterator<Item = &'a str>) {
    let names: Vec<&str> = names.collect();
    let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(0) as f64;
    let _ = write!(
        s,
        r##"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="#ffffff" fill-opacity="0.9" stroke="#dddddd"/>"##,
        48.0 + 7.2 * longest,
        8.0 + 16.0 * names.len() as f64
    );
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        })
}

/// Horizontal bars, one per label, in the given order.
pub fn bar_chart(c: &Chart, labels: &[String], values: &[f64], fmt: Format) -> String {
    let mut s = String::new();
    let mut f = open(c, &mut s, &c.title);
    // room for the labels on the left
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64;
    let shift = (longest * 6.5).clamp(40.0, 220.0) - 60.0;
    f.left += shift;
    f.w -= shift;
    let (lo, hi) = range(values.iter().copied().chain([0.0]));
    let ticks = nice_ticks(lo, hi, 5);
    let (t0, t1) = (ticks[0], *ticks.last().expect("ticks"));
    let x = x_axis(&f, &ticks, t0, t1, fmt, &mut s);
    let n = labels.len().max(1) as f64;
    let band = f.h / n;
    for (i, (l, &v)) in labels.iter().zip(values).enumerate() {
        let y0 = f.top + band * i as f64 + band * 0.15;
        let (a, b) = (x(0.0_f64.max(t0)), x(v));
        let _ = write!(
            s,
            r##"<rect class="mark" x="{:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#222">{}</text>"##,
            a.min(b),
            (b - a).abs().max(0.5),
            band * 0.7,
            PALETTE[0],
            escape(l),
            escape(&format_value(v, fmt)),
            f.left - 6.0,
            y0 + band * 0.35 + 4.0,
            escape(l)
        );
    }
    axes_labels(c, &f, &mut s);
    s.push_str("</svg>");
    s
}

/// The colour of `t` in [0, 1] on a white-to-blue sequential scale (ColorBrewer "Blues" ends,
/// linear in RGB): lighter is less.
fn blues(t: f64) -> String {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (a, b) = ([247.0, 251.0, 255.0], [8.0, 48.0, 107.0]);
    let c: Vec<u8> = (0..3)
        .map(|k| (a[k] + (b[k] - a[k]) * t).round() as u8)
        .collect();
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// A grid of cells coloured by value (white to dark blue; grey where a cell has no value), the
/// rows bottom-up along `y_labels` and the columns along `x_labels`, with a colour key. Every
/// cell carries its coordinates and value as a tooltip; `cells[row][column]`.
pub fn heatmap(
    c: &Chart,
    x_labels: &[String],
    y_labels: &[String],
    cells: &[Vec<Option<f64>>],
    fmt: Format,
) -> String {
    let (x_values, y_values) = (x_labels, y_labels);
    let mut s = String::new();
    let mut f = open(c, &mut s, &c.title);
    f.w -= 70.0; // room for the key
                 // room for long row labels
    let longest = y_labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0) as f64;
    let shift = (longest * 6.5 + 16.0 - f.left).max(0.0);
    f.left += shift;
    f.w -= shift;
    let (lo, hi) = range(cells.iter().flatten().flatten().copied());
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo, lo + 1.0) };
    let (nx, ny) = (x_values.len().max(1), y_values.len().max(1));
    let (cw, ch) = (f.w / nx as f64, f.h / ny as f64);
    for (row, (y, line)) in y_values.iter().zip(cells).enumerate() {
        let top = f.top + f.h - ch * (row + 1) as f64;
        for (col, (x, v)) in x_values.iter().zip(line).enumerate() {
            let (fill, text) = match v {
                Some(v) => (blues((v - lo) / (hi - lo)), format_value(*v, fmt)),
                None => ("#eeeeee".to_string(), "no such customer".to_string()),
            };
            let _ = write!(
                s,
                r##"<rect class="mark" x="{:.1}" y="{top:.1}" width="{:.2}" height="{:.2}" fill="{fill}"><title>{} {}, {} {}: {}</title></rect>"##,
                f.left + cw * col as f64,
                cw + 0.3,
                ch + 0.3,
                escape(&c.y_label),
                escape(y),
                escape(&c.x_label),
                escape(x),
                escape(&text)
            );
        }
    }
    // axis labels at about 8 of the columns and rows
    let every = |n: usize| n.div_ceil(8).max(1);
    for (col, x) in x_values.iter().enumerate().step_by(every(nx)) {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            f.left + cw * (col as f64 + 0.5),
            f.top + f.h + 16.0,
            escape(x)
        );
    }
    // rows: every one when they are 12 px or more apart
    let row_step = if ch >= 12.0 { 1 } else { every(ny) };
    for (row, y) in y_values.iter().enumerate().step_by(row_step) {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            f.left - 6.0,
            f.top + f.h - ch * (row as f64 + 0.5) + 4.0,
            escape(y)
        );
    }
    // the key: ten steps from lo (bottom) to hi (top)
    let kx = f.left + f.w + 16.0;
    for k in 0..10 {
        let _ = write!(
            s,
            r##"<rect x="{kx:.1}" y="{:.1}" width="14" height="{:.2}" fill="{}"/>"##,
            f.top + f.h * (9 - k) as f64 / 10.0,
            f.h / 10.0 + 0.3,
            blues((k as f64 + 0.5) / 10.0)
        );
    }
    for (v, y) in [(hi, f.top + 10.0), (lo, f.top + f.h)] {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{y:.1}" fill="#555">{}</text>"##,
            kx + 18.0,
            escape(&format_value(v, fmt))
        );
    }
    axes_labels(c, &f, &mut s);
    s.push_str("</svg>");
    s
}

/// A series of points joined by a line.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
}

/// Lines with a legend.
pub fn line_chart(c: &Chart, series: &[Series], x_fmt: Format, y_fmt: Format) -> String {
    line_chart_marked(c, series, x_fmt, y_fmt, None)
}

/// [`line_chart`] with a labelled vertical line at x = `marker.0` (e.g. the calibration end).
pub fn line_chart_marked(
    c: &Chart,
    series: &[Series],
    x_fmt: Format,
    y_fmt: Format,
    marker: Option<(f64, &str)>,
) -> String {
    let mut s = String::new();
    let f = open(c, &mut s, &c.title);
    let (xl, xh) = range(series.iter().flat_map(|p| p.points.iter().map(|q| q.0)));
    let (yl, yh) = range(series.iter().flat_map(|p| p.points.iter().map(|q| q.1)));
    let (xt, yt) = (nice_ticks(xl, xh, 6), nice_ticks(yl.min(0.0), yh, 5));
    let y = y_axis(&f, &yt, yt[0], *yt.last().expect("ticks"), y_fmt, &mut s);
    let x = x_axis(&f, &xt, xt[0], *xt.last().expect("ticks"), x_fmt, &mut s);
    if let Some((at, label)) = marker {
        let mx = x(at);
        let _ = write!(
            s,
            r##"<line x1="{mx:.1}" x2="{mx:.1}" y1="{:.1}" y2="{:.1}" stroke="#777" stroke-dasharray="3 3"/><text x="{:.1}" y="{:.1}" fill="#555" text-anchor="end">{}</text>"##,
            f.top,
            f.top + f.h,
            mx - 4.0,
            f.top + f.h - 6.0,
            escape(label)
        );
    }
    for (k, p) in series.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let path: Vec<String> = p
            .points
            .iter()
            .filter(|q| q.0.is_finite() && q.1.is_finite())
            .map(|&(a, b)| format!("{:.1},{:.1}", x(a), y(b)))
            .collect();
        let _ = write!(
            s,
            r##"<polyline class="mark" points="{}" fill="none" stroke="{color}" stroke-width="2"{}><title>{}</title></polyline>"##,
            path.join(" "),
            if p.dashed {
                r##" stroke-dasharray="5 4""##
            } else {
                ""
            },
            escape(&p.name)
        );
    }
    // the legend over the lines, so that no line crosses its text, in the corner the lines
    // cross least
    let longest = series
        .iter()
        .map(|p| p.name.chars().count())
        .max()
        .unwrap_or(0) as f64;
    let (bw, bh) = (48.0 + 7.2 * longest, 8.0 + 16.0 * series.len() as f64);
    let drawn: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|p| {
            p.points
                .iter()
                .filter(|q| q.0.is_finite() && q.1.is_finite())
                .map(|&(a, b)| (x(a), y(b)))
                .collect()
        })
        .collect();
    let (lx, ly0) = legend_corner(&f, bw, bh, &drawn);
    legend_box(&mut s, lx, ly0, series.iter().map(|p| p.name.as_str()));
    for (k, p) in series.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let ly = ly0 + 12.0 + 16.0 * k as f64;
        let _ = write!(
            s,
            r##"<line x1="{:.1}" x2="{:.1}" y1="{ly:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="2"{}/><text x="{:.1}" y="{:.1}" fill="#222">{}</text>"##,
            lx + 6.0,
            lx + 26.0,
            if p.dashed {
                r##" stroke-dasharray="5 4""##
            } else {
                ""
            },
            lx + 32.0,
            ly + 4.0,
            escape(&p.name)
        );
    }
    axes_labels(c, &f, &mut s);
    s.push_str("</svg>");
    s
}

/// The top-left corner of a `w` x `h` legend: of the plot's four corners (top-left first), the
/// one the drawn lines (pixel polylines) pass through least, sampled along every segment.
fn legend_corner(f: &Frame, w: f64, h: f64, lines: &[Vec<(f64, f64)>]) -> (f64, f64) {
    let corners = [
        (f.left + 4.0, f.top + 2.0),
        (f.left + f.w - w - 4.0, f.top + 2.0),
        (f.left + f.w - w - 4.0, f.top + f.h - h - 2.0),
        (f.left + 4.0, f.top + f.h - h - 2.0),
    ];
    let hits = |&(cx, cy): &(f64, f64)| -> usize {
        let inside = |(px, py): (f64, f64)| px >= cx && px <= cx + w && py >= cy && py <= cy + h;
        lines
            .iter()
            .flat_map(|l| l.windows(2))
            .map(|seg| {
                (0..=20)
                    .filter(|&t| {
                        let t = t as f64 / 20.0;
                        inside((
                            seg[0].0 + t * (seg[1].0 - seg[0].0),
                            seg[0].1 + t * (seg[1].1 - seg[0].1),
                        ))
                    })
                    .count()
            })
            .sum()
    };
    // the first corner with the fewest crossings (ties keep the usual top-left)
    let mut best = (corners[0], hits(&corners[0]));
    for c in &corners[1..] {
        let n = hits(c);
        if n < best.1 {
            best = (*c, n);
        }
    }
    best.0
}

/// Five-number summary of a box.
#[derive(Debug, Clone, Copy)]
pub struct BoxStats {
    pub low: f64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub high: f64,
}

/// Vertical box plots, one per group (whiskers at `low` / `high`, e.g. the 5th and 95th
/// percentiles).
pub fn box_plot(c: &Chart, groups: &[(String, BoxStats)], fmt: Format) -> String {
    let mut s = String::new();
    let mut f = open(c, &mut s, &c.title);
    let band = f.w / groups.len().max(1) as f64;
    // labels wider than their band are turned, so that neighbours do not overlap; the plot
    // then gives up the height the turned labels reach below the axis
    let longest = groups
        .iter()
        .map(|g| g.0.chars().count())
        .max()
        .unwrap_or(0) as f64;
    let turn = longest * 6.5 > band * 0.95;
    if turn {
        let drop = longest * 6.5 * 20f64.to_radians().sin();
        f.h = (f.h - drop).max(f.h * 0.5);
    }
    let (lo, hi) = range(groups.iter().flat_map(|(_, b)| [b.low, b.high]));
    let yt = nice_ticks(lo, hi, 5);
    let y = y_axis(&f, &yt, yt[0], *yt.last().expect("ticks"), fmt, &mut s);
    for (i, (name, b)) in groups.iter().enumerate() {
        let cx = f.left + band * (i as f64 + 0.5);
        let ly = f.top + f.h + 16.0;
        let (anchor, rotate) = if turn {
            (
                "end",
                format!(r#" transform="rotate(-20 {cx:.1} {ly:.1})""#),
            )
        } else {
            ("middle", String::new())
        };
        let bw = (band * 0.5).min(60.0);
        let color = PALETTE[i % PALETTE.len()];
        let tip = format!(
            "{}: median {}, quartiles {} to {}, whiskers {} to {}",
            name,
            format_value(b.median, fmt),
            format_value(b.q1, fmt),
            format_value(b.q3, fmt),
            format_value(b.low, fmt),
            format_value(b.high, fmt)
        );
        let _ = write!(
            s,
            r##"<g class="mark"><title>{}</title><line x1="{cx:.1}" x2="{cx:.1}" y1="{:.1}" y2="{:.1}" stroke="#444"/><rect x="{:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{color}" fill-opacity="0.35" stroke="{color}"/><line x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#222" stroke-width="2"/></g><text x="{cx:.1}" y="{:.1}" text-anchor="{anchor}" fill="#222"{rotate}>{}</text>"##,
            escape(&tip),
            y(b.high),
            y(b.low),
            cx - bw / 2.0,
            y(b.q3),
            (y(b.q1) - y(b.q3)).max(0.5),
            cx - bw / 2.0,
            cx + bw / 2.0,
            y(b.median),
            y(b.median),
            f.top + f.h + 16.0,
            escape(name)
        );
    }
    axes_labels(c, &f, &mut s);
    s.push_str("</svg>");
    s
}

/// Points coloured by group (`points`: x, y, group index into `groups`).
pub fn scatter(c: &Chart, points: &[(f64, f64, usize)], groups: &[String]) -> String {
    let mut s = String::new();
    let f = open(c, &mut s, &c.title);
    let (xl, xh) = range(points.iter().map(|p| p.0));
    let (yl, yh) = range(points.iter().map(|p| p.1));
    let (xt, yt) = (nice_ticks(xl, xh, 6), nice_ticks(yl, yh, 5));
    let y = y_axis(
        &f,
        &yt,
        yt[0],
        *yt.last().expect("ticks"),
        Format::Number,
        &mut s,
    );
    let x = x_axis(
        &f,
        &xt,
        xt[0],
        *xt.last().expect("ticks"),
        Format::Number,
        &mut s,
    );
    for (g, name) in groups.iter().enumerate() {
        let color = PALETTE[g % PALETTE.len()];
        let _ = write!(
            s,
            r##"<g class="mark" fill="{color}" fill-opacity="0.55"><title>{}</title>"##,
            escape(name)
        );
        for p in points
            .iter()
            .filter(|p| p.2 == g && p.0.is_finite() && p.1.is_finite())
        {
            let _ = write!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="2.2"/>"##,
                x(p.0),
                y(p.1)
            );
        }
        s.push_str("</g>");
    }
    let lx = f.left + f.w - 150.0;
    legend_box(
        &mut s,
        lx - 10.0,
        f.top + 2.0,
        groups.iter().map(|g| g.as_str()),
    );
    for (g, name) in groups.iter().enumerate() {
        let color = PALETTE[g % PALETTE.len()];
        let ly = f.top + 14.0 + 16.0 * g as f64;
        let _ = write!(
            s,
            r##"<circle cx="{lx:.1}" cy="{ly:.1}" r="5" fill="{color}"/><text x="{:.1}" y="{:.1}" fill="#222">{}</text>"##,
            lx + 10.0,
            ly + 4.0,
            escape(name)
        );
    }
    axes_labels(c, &f, &mut s);
    s.push_str("</svg>");
    s
}

/// A histogram of `values` in `bins` equal-width bins between the 1st and 99th percentile
/// (values outside go to the end bins, so a long tail does not flatten the chart).
pub fn histogram(c: &Chart, values: &[f64], bins: usize, fmt: Format) -> String {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_unstable_by(f64::total_cmp);
    let mut s = String::new();
    let f = open(c, &mut s, &c.title);
    if v.is_empty() {
        s.push_str("</svg>");
        return s;
    }
    let q = |p: f64| crate::stats::quantile_sorted(&v, p);
    let (lo, hi) = (q(0.01), q(0.99).max(q(0.01) + 1e-9));
    let bins = bins.max(1);
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    for &x in &v {
        let b = (((x - lo) / width).floor().max(0.0) as usize).min(bins - 1);
        counts[b] += 1;
    }
    let max = *counts.iter().max().unwrap_or(&1) as f64;
    let yt = nice_ticks(0.0, max, 5);
    let y = y_axis(
        &f,
        &yt,
        0.0,
        *yt.last().expect("ticks"),
        Format::Number,
        &mut s,
    );
    let xt = nice_ticks(lo, hi, 6);
    let x = x_axis(&f, &xt, xt[0], *xt.last().expect("ticks"), fmt, &mut s);
    for (b, &n) in counts.iter().enumerate() {
        let (a, z) = (lo + width * b as f64, lo + width * (b + 1) as f64);
        let _ = write!(
            s,
            r##"<rect class="mark" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} to {}: {n}</title></rect>"##,
            x(a),
            y(n as f64),
            (x(z) - x(a) - 1.0).max(0.5),
            (y(0.0) - y(n as f64)).max(0.0),
            PALETTE[0],
            escape(&format_value(a, fmt)),
            escape(&format_value(z, fmt))
        );
    }
    axes_labels(c, &f, &mut s);
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_labels_are_text() {
        let evil = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
        let svg = bar_chart(
            &Chart::new(evil, evil, evil),
            &[evil.to_string(), "ok".into()],
            &[3.0, 1.0],
            Format::Number,
        );
        assert!(!svg.contains("<script") && !svg.contains("<img"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img"));
        assert_eq!(escape("a'b&\u{1}"), "a&#39;b&amp; ");
    }

    #[test]
    fn ticks_are_nice_and_cover_the_range() {
        assert_eq!(
            nice_ticks(0.0, 97.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(
            nice_ticks(-0.3, 0.7, 5),
            vec![-0.4, -0.2, 0.0, 0.2, 0.4, 0.6, 0.8]
        );
        let t = nice_ticks(5.0, 5.0, 5);
        assert!(t.first().unwrap() <= &5.0 && t.last().unwrap() >= &5.0);
        assert_eq!(format_value(0.1234, Format::Percent), "12.3%");
        assert_eq!(format_value(1_234_567.0, Format::Money), "$1.2M");
        assert_eq!(format_value(12_345.0, Format::Number), "12k");
    }

    #[test]
    fn one_mark_per_value() {
        let svg = bar_chart(
            &Chart::new("t", "x", "y"),
            &["a".into(), "b".into(), "c".into()],
            &[1.0, 2.0, 3.0],
            Format::Number,
        );
        assert_eq!(svg.matches(r##"class="mark""##).count(), 3);
        let h = histogram(
            &Chart::new("t", "x", "y"),
            &[1.0, 2.0, 2.0, 3.0, 10.0],
            4,
            Format::Number,
        );
        assert_eq!(h.matches(r##"class="mark""##).count(), 4);
        let b = box_plot(
            &Chart::new("t", "x", "y"),
            &[(
                "g".into(),
                BoxStats {
                    low: 0.0,
                    q1: 1.0,
                    median: 2.0,
                    q3: 3.0,
                    high: 4.0,
                },
            )],
            Format::Number,
        );
        assert!(b.contains("median 2, quartiles 1 to 3"), "{b}");
        let l = line_chart(
            &Chart::new("t", "x", "y"),
            &[Series {
                name: "s".into(),
                points: vec![(0.0, 0.0), (1.0, 1.0)],
                dashed: true,
            }],
            Format::Number,
            Format::Number,
        );
        assert!(l.contains("stroke-dasharray"));
    }
}

/// One row of a [`beeswarm`]: a feature's contributions, each with the rank of the feature's
/// value among the row's values (0 = lowest, 1 = highest; `NaN` = missing).
#[derive(Debug, Clone)]
pub struct SwarmRow {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Blue (low) to red (high) through grey, SHAP's summary-plot convention; grey when missing.
fn value_color(rank: f64) -> String {
    if !rank.is_finite() {
        return "#bbbbbb".into();
    }
    let (lo, hi) = ((0x1e, 0x88, 0xe5), (0xff, 0x00, 0x52));
    let mix = |a: i32, b: i32| (a as f64 + (b - a) as f64 * rank.clamp(0.0, 1.0)).round() as i32;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(lo.0, hi.0),
        mix(lo.1, hi.1),
        mix(lo.2, hi.2)
    )
}

/// A SHAP summary plot: one row per feature (first on top), each point a row's contribution
/// along x, stacked vertically where points crowd, coloured by the feature's value.
pub fn beeswarm(c: &Chart, rows: &[SwarmRow]) -> String {
    let mut s = String::new();
    let mut f = open(c, &mut s, &c.title);
    // room for the feature names
    let longest = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0) as f64;
    let shift = (7.0 * longest + 12.0 - f.left).max(0.0);
    f.left += shift;
    f.w -= shift + 40.0;
    let (xl, xh) = range(rows.iter().flat_map(|r| r.points.iter().map(|p| p.0)));
    let xt = nice_ticks(xl.min(0.0), xh.max(0.0), 6);
    let x = x_axis(
        &f,
        &xt,
        xt[0],
        *xt.last().expect("ticks"),
        Format::Number,
        &mut s,
    );
    let zero = x(0.0);
    let _ = write!(
        s,
        r##"<line x1="{zero:.1}" x2="{zero:.1}" y1="{:.1}" y2="{:.1}" stroke="#888"/>"##,
        f.top,
        f.top + f.h
    );
    let band = f.h / rows.len().max(1) as f64;
    for (k, r) in rows.iter().enumerate() {
        let mid = f.top + band * (k as f64 + 0.5);
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#222">{}</text><g class="mark"><title>{}</title>"##,
            f.left - 6.0,
            mid + 4.0,
            escape(&r.name),
            escape(&r.name)
        );
        // points in the same 2-px column stack alternately above and below the row's middle
        let mut used: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
        let half = (band / 2.0 - 2.0).max(1.0);
        for &(v, rank) in r.points.iter().filter(|p| p.0.is_finite()) {
            let px = x(v);
            let n = used.entry((px / 2.0).round() as i64).or_insert(0);
            let step = (*n as f64 + 1.0) / 2.0 * 1.6;
            let dy = if *n % 2 == 0 {
                step.floor()
            } else {
                -step.ceil()
            };
            *n += 1;
            let _ = write!(
                s,
                r##"<circle cx="{px:.1}" cy="{:.1}" r="1.6" fill="{}"/>"##,
                mid + dy.clamp(-half, half),
                value_color(rank)
            );
        }
        s.push_str("</g>");
    }
    // the colour scale
    let (kx, ky) = (f.left + f.w + 14.0, f.top);
    for i in 0..10 {
        let _ = write!(
            s,
            r##"<rect x="{kx:.1}" y="{:.1}" width="10" height="{:.1}" fill="{}"/>"##,
            ky + f.h * (9 - i) as f64 / 10.0,
            f.h / 10.0 + 0.5,
            value_color(i as f64 / 9.0)
        );
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" fill="#555" text-anchor="middle">high</text><text x="{:.1}" y="{:.1}" fill="#555" text-anchor="middle">low</text>"##,
        kx + 5.0,
        ky - 4.0,
        kx + 5.0,
        ky + f.h + 14.0
    );
    axes_labels(c, &f, &mut s);
    s.push_str("</svg>");
    s
}
