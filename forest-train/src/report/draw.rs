//! What the pictures share: a fixed-size pixel canvas over plotters' SVG
//! backend, the palette, the heading every picture starts with, and axis
//! ticks.
//!
//! The SVG backend has no font metrics, so text widths are estimated here
//! from character classes ([`text_width`]) and long text is shortened with
//! an ellipsis ([`fit`]); the charts lay themselves out with these numbers
//! instead of plotters' automatic layout, which would clip or overlap long
//! labels.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::finite;

const FONT: FontFamily = FontFamily::SansSerif;
pub(super) const INK: RGBColor = RGBColor(33, 37, 41);
pub(super) const MUTED: RGBColor = RGBColor(108, 117, 125);
pub(super) const GRID: RGBColor = RGBColor(222, 226, 230);
pub(super) const MDI_BAR: RGBColor = RGBColor(76, 114, 176);
pub(super) const PERM_BAR: RGBColor = RGBColor(221, 132, 82);

/// Estimated width in pixels of `s` at font size `px`, from per-character
/// widths close to DejaVu Sans and Helvetica (erring wide), since an SVG has
/// no font metrics until a viewer renders it.
pub(super) fn text_width(s: &str, px: f64) -> f64 {
    s.chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | '\'' | '|' | '.' | ',' | ':' | ';' | '!' => 0.32,
            'f' | 't' | 'r' | ' ' | '(' | ')' | '[' | ']' | '-' => 0.42,
            'm' | 'w' => 0.92,
            'M' | 'W' => 0.9,
            'A'..='Z' => 0.74,
            '0'..='9' => 0.64,
            'a'..='z' | '_' => 0.6,
            c if c.is_ascii() => 0.64,
            _ => 0.9,
        })
        .sum::<f64>()
        * px
}

/// `s` shortened with "…" until it fits in `max` pixels: in the middle for
/// names (whose end often tells similar ones apart), at the end for prose.
pub(super) fn fit(s: &str, px: f64, max: f64, middle: bool) -> String {
    if text_width(s, px) <= max {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    // No character is narrower than 0.32 em, so longer candidates cannot fit.
    let mut keep = chars.len().min((max / (0.32 * px)) as usize + 1);
    while keep > 1 {
        keep -= 1;
        let candidate: String = if middle {
            let head = keep.div_ceil(2);
            let tail = keep - head;
            chars[..head]
                .iter()
                .chain(['…'].iter())
                .chain(chars[chars.len() - tail..].iter())
                .collect()
        } else {
            chars[..keep].iter().chain(['…'].iter()).collect()
        };
        if text_width(&candidate, px) <= max {
            return candidate;
        }
    }
    "…".to_string()
}

/// A fixed-size SVG canvas in pixel coordinates with the few primitives the
/// charts need.
pub(super) struct Canvas<'a> {
    area: DrawingArea<SVGBackend<'a>, Shift>,
}

pub(super) type Drawn = Result<(), String>;

impl Canvas<'_> {
    pub(super) fn rect(&self, x0: i32, y0: i32, x1: i32, y1: i32, color: RGBColor) -> Drawn {
        let style = ShapeStyle {
            color: color.to_rgba(),
            filled: true,
            stroke_width: 0,
        };
        self.area
            .draw(&Rectangle::new([(x0, y0), (x1, y1)], style))
            .map_err(|e| e.to_string())
    }

    pub(super) fn frame(&self, x0: i32, y0: i32, x1: i32, y1: i32, color: RGBColor) -> Drawn {
        let style = ShapeStyle {
            color: color.to_rgba(),
            filled: false,
            stroke_width: 1,
        };
        self.area
            .draw(&Rectangle::new([(x0, y0), (x1, y1)], style))
            .map_err(|e| e.to_string())
    }

    pub(super) fn line(&self, points: Vec<(i32, i32)>, color: RGBColor, width: u32) -> Drawn {
        let style = ShapeStyle {
            color: color.to_rgba(),
            filled: false,
            stroke_width: width,
        };
        self.area
            .draw(&PathElement::new(points, style))
            .map_err(|e| e.to_string())
    }

    /// Text at `(x, y)`, anchored by `h` and `v`; `px` is the rendered font
    /// size in pixels (plotters' SVG backend divides sizes by 1.24).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn text(
        &self,
        s: &str,
        (x, y): (i32, i32),
        px: f64,
        color: RGBColor,
        (h, v): (HPos, VPos),
        bold: bool,
        vertical: bool,
    ) -> Drawn {
        let style = if bold {
            FontStyle::Bold
        } else {
            FontStyle::Normal
        };
        let mut font = FontDesc::new(FONT, px * 1.24, style);
        if vertical {
            font = font.transform(FontTransform::Rotate270);
        }
        let text_style = font.color(&color).pos(Pos::new(h, v));
        self.area
            .draw(&Text::new(s.to_string(), (x, y), text_style))
            .map_err(|e| e.to_string())
    }
}

/// Renders a `width × height` white SVG drawn by `draw`.
pub(super) fn render(
    width: u32,
    height: u32,
    draw: impl FnOnce(&Canvas) -> Drawn,
) -> Result<Vec<u8>, String> {
    let mut out = String::new();
    {
        let area = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        area.fill(&WHITE).map_err(|e| e.to_string())?;
        let canvas = Canvas { area };
        draw(&canvas)?;
        canvas.area.present().map_err(|e| e.to_string())?;
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out.into_bytes())
}

/// Title and subtitle at the top left, shortened to `width` pixels.
pub(super) fn heading(c: &Canvas, title: &str, subtitle: &str, width: f64) -> Drawn {
    let max = width - 2.0 * MARGIN as f64;
    c.text(
        &fit(title, 16.0 * BOLD, max, false),
        (MARGIN, MARGIN),
        16.0,
        INK,
        (HPos::Left, VPos::Top),
        true,
        false,
    )?;
    c.text(
        &fit(subtitle, 12.0, max, false),
        (MARGIN, MARGIN + 24),
        12.0,
        MUTED,
        (HPos::Left, VPos::Top),
        false,
        false,
    )
}

/// The width a heading wants: its longer line plus margins, at most
/// [`MAX_TITLE_WIDTH`] (beyond that it is shortened).
pub(super) fn heading_width(title: &str, subtitle: &str) -> i32 {
    (text_width(title, 16.0 * BOLD).max(text_width(subtitle, 12.0)) + 2.0 * MARGIN as f64)
        .min(MAX_TITLE_WIDTH)
        .ceil() as i32
}

/// Bold glyphs are about this much wider than regular ones.
const BOLD: f64 = 1.12;
pub(super) const MARGIN: i32 = 16;
/// Space taken by [`heading`] plus a gap.
pub(super) const HEADING: i32 = MARGIN + 24 + 16 + 18;
/// Widest a picture grows to fit its title.
const MAX_TITLE_WIDTH: f64 = 900.0;

/// Sequential white-to-blue colour of a share in `[0, 1]` (ColorBrewer's
/// "Blues" stops, linearly interpolated).
pub(super) fn blues(share: f64) -> RGBColor {
    const STOPS: [(f64, [f64; 3]); 5] = [
        (0.0, [247.0, 251.0, 255.0]),
        (0.25, [198.0, 219.0, 239.0]),
        (0.5, [107.0, 174.0, 214.0]),
        (0.75, [33.0, 113.0, 181.0]),
        (1.0, [8.0, 48.0, 107.0]),
    ];
    let t = finite(share).clamp(0.0, 1.0);
    let i = STOPS
        .windows(2)
        .position(|w| t <= w[1].0)
        .unwrap_or(STOPS.len() - 2);
    let (t0, a) = STOPS[i];
    let (t1, b) = STOPS[i + 1];
    let f = (t - t0) / (t1 - t0);
    let mix = |k: usize| (a[k] + (b[k] - a[k]) * f).round() as u8;
    RGBColor(mix(0), mix(1), mix(2))
}

/// Tick positions covering `[lo, hi]` at a 1-2-2.5-5 step, and the number
/// of decimals that prints the step exactly.
pub(super) fn ticks(lo: f64, hi: f64) -> (Vec<f64>, usize) {
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo, lo + 1.0) };
    let raw = (hi - lo) / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step + 1e-9).floor() as i64;
    let last = (hi / step - 1e-9).ceil() as i64;
    let values = (first..=last).map(|k| k as f64 * step).collect();
    let decimals = (0..10)
        .find(|&d| {
            let scaled = step * 10f64.powi(d as i32);
            (scaled - scaled.round()).abs() < 1e-6
        })
        .unwrap_or(4);
    (values, decimals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::LONG;

    #[test]
    fn ticks_cover_the_range_at_round_steps() {
        let (t, d) = ticks(0.0, 0.137);
        assert_eq!(t.first(), Some(&0.0));
        assert!(*t.last().unwrap() >= 0.137);
        assert_eq!(d, 2);
        let (t, _) = ticks(-0.012, 0.05);
        assert!(t[0] <= -0.012 && *t.last().unwrap() >= 0.05);
        let (t, _) = ticks(0.0, 0.0);
        assert_eq!(t.first(), Some(&0.0));
    }

    #[test]
    fn fit_shortens_in_the_middle_or_at_the_end() {
        assert_eq!(fit("short", 12.0, 200.0, true), "short");
        let m = fit(LONG, 12.0, 120.0, true);
        assert!(m.contains('…') && m.starts_with("prior") && text_width(&m, 12.0) <= 120.0);
        let e = fit(LONG, 12.0, 120.0, false);
        assert!(e.ends_with('…') && e.starts_with("prior"));
    }
}
