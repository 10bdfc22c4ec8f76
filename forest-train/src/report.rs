//! The evaluation report written next to a model: `metrics.json` for
//! programs, `report.md` for people, and SVG pictures of the confusion matrix
//! and the feature importances that the Markdown embeds by relative link.
//!
//! [`build_report`] only returns bytes, so the caller decides where they go
//! (a local directory, an S3 lake) and how they are written atomically. The
//! bytes are a pure function of the input: no timestamps, no host names, no
//! hash-map iteration order, so re-running an evaluation gives the same
//! files and a diff of two reports shows only what changed.
//!
//! The pictures are drawn with plotters' SVG backend and laid out here by
//! hand (label widths are estimated from character classes, long names are
//! shortened with an ellipsis in the middle), because the SVG backend has no
//! font metrics and its automatic layout would clip or overlap long labels.

use forest_core::metrics::Evaluation;
use forest_core::{Metadata, TrainingInfo};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;
use thiserror::Error;

use crate::importance::PermutationImportance;

/// Scores as JSON: the evaluation, the model's identity and training-time
/// metrics, and the importances.
pub const METRICS_JSON: &str = "metrics.json";
/// The human report, in Markdown, linking the pictures.
pub const REPORT_MD: &str = "report.md";
/// Heat map of the confusion matrix.
pub const CONFUSION_SVG: &str = "confusion_matrix.svg";
/// Bar chart of the top features by mean decrease in impurity.
pub const IMPORTANCE_SVG: &str = "feature_importance.svg";
/// Bar chart of permutation importance with error bars (only when given).
pub const PERMUTATION_SVG: &str = "permutation_importance.svg";

/// How many features the charts and tables show.
pub const TOP_FEATURES: usize = 20;

/// Everything a report is made from.
pub struct ReportInput<'a> {
    /// The model's file name, e.g. `model.forest`.
    pub model_name: &'a str,
    /// Hex SHA-256 of the artifact bytes.
    pub model_sha256: &'a str,
    pub meta: &'a Metadata,
    pub evaluation: &'a Evaluation,
    /// What the model was evaluated on, e.g. `gold/ split test, 566 baskets`.
    pub data_description: &'a str,
    /// Permutation importance measured on the evaluation rows, if any.
    pub permutation: Option<&'a [PermutationImportance]>,
}

/// The report's files, as (file name, bytes), in a safe write order: the
/// pictures first, then `report.md`, and `metrics.json` last, so that a
/// reader who finds `metrics.json` finds the rest of the report beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    pub files: Vec<(String, Vec<u8>)>,
}

impl ReportFiles {
    /// The bytes of the file called `name`, if the report has one.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_slice())
    }
}

#[derive(Debug, Error)]
pub enum ReportError {
    /// The evaluation or the metadata contradict themselves (say, a
    /// confusion matrix with more rows than classes).
    #[error("cannot build the report: {0}")]
    Inconsistent(String),
    #[error("drawing {file}: {message}")]
    Draw { file: &'static str, message: String },
    #[error("encoding {METRICS_JSON}: {0}")]
    Json(#[from] serde_json::Error),
}

/// Builds every file of the report. See [`ReportFiles`] for the order.
pub fn build_report(input: &ReportInput) -> Result<ReportFiles, ReportError> {
    check(input)?;
    let names: Vec<&str> = input.meta.features.names().collect();
    let mdi = ranked_impurity(input.meta, &names);
    let permutation = input.permutation.map(ranked_permutation);

    let mut files = vec![
        (
            CONFUSION_SVG.to_string(),
            confusion_svg(input).map_err(|message| ReportError::Draw {
                file: CONFUSION_SVG,
                message,
            })?,
        ),
        (
            IMPORTANCE_SVG.to_string(),
            importance_svg(input, &mdi, names.len()).map_err(|message| ReportError::Draw {
                file: IMPORTANCE_SVG,
                message,
            })?,
        ),
    ];
    if let Some(perm) = &permutation {
        let svg = permutation_svg(input, perm).map_err(|message| ReportError::Draw {
            file: PERMUTATION_SVG,
            message,
        })?;
        files.push((PERMUTATION_SVG.to_string(), svg));
    }
    let markdown = report_markdown(input, &mdi, permutation.as_deref());
    files.push((REPORT_MD.to_string(), markdown.into_bytes()));
    files.push((METRICS_JSON.to_string(), metrics_json(input, &mdi)?));
    Ok(ReportFiles { files })
}

/// Rejects input whose parts disagree, before anything is drawn.
fn check(input: &ReportInput) -> Result<(), ReportError> {
    let e = input.evaluation;
    let n = e.classes.len();
    let bad = |m: String| Err(ReportError::Inconsistent(m));
    if n == 0 {
        return bad("the evaluation has no classes".into());
    }
    if e.per_class.len() != n {
        return bad(format!(
            "{} per-class reports for {n} classes",
            e.per_class.len()
        ));
    }
    if e.confusion.len() != n || e.confusion.iter().any(|row| row.len() != n) {
        return bad(format!(
            "the confusion matrix is not {n} x {n} for {n} classes"
        ));
    }
    let importances = input.meta.feature_importance.len();
    if importances != 0 && importances != input.meta.features.len() {
        return bad(format!(
            "{importances} impurity importances for {} features",
            input.meta.features.len()
        ));
    }
    Ok(())
}

// ------------------------------------------------------------------ ranking

/// One feature's score, for the tables and charts.
#[derive(Debug, Clone, Serialize)]
struct Ranked {
    feature: String,
    importance: f64,
}

/// All features by mean decrease in impurity, largest first; ties keep the
/// model's feature order (the sort is stable), so the ranking is
/// deterministic.
fn ranked_impurity(meta: &Metadata, names: &[&str]) -> Vec<Ranked> {
    let mut ranked: Vec<Ranked> = names
        .iter()
        .zip(&meta.feature_importance)
        .map(|(name, &v)| Ranked {
            feature: (*name).to_string(),
            importance: v,
        })
        .collect();
    ranked.sort_by(|a, b| finite(b.importance).total_cmp(&finite(a.importance)));
    ranked
}

/// Permutation importances by mean accuracy drop, largest first, stable.
fn ranked_permutation(perm: &[PermutationImportance]) -> Vec<PermutationImportance> {
    let mut ranked = perm.to_vec();
    ranked.sort_by(|a, b| finite(b.mean).total_cmp(&finite(a.mean)));
    ranked
}

/// NaN and infinities draw and sort as 0 rather than breaking a layout.
fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

// ------------------------------------------------------------- metrics.json

#[derive(Serialize)]
struct MetricsDoc<'a> {
    model: ModelDoc<'a>,
    data: &'a str,
    #[serde(flatten)]
    evaluation: &'a Evaluation,
    /// Scores the trainer recorded in the model (OOB score and the like).
    training_metrics: &'a serde_json::Value,
    /// Mean decrease in impurity, largest first.
    feature_importance: &'a [Ranked],
    /// Accuracy drop per shuffled feature, largest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    permutation_importance: Option<Vec<PermutationImportance>>,
}

#[derive(Serialize)]
struct ModelDoc<'a> {
    name: &'a str,
    sha256: &'a str,
    label: &'a str,
    trees: usize,
    features: usize,
    trainer: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    git_revision: Option<&'a str>,
    training: &'a TrainingInfo,
}

/// Pretty JSON; keys come from struct declarations (and from the model's own
/// JSON for `training_metrics`), so their order never varies.
fn metrics_json(input: &ReportInput, mdi: &[Ranked]) -> Result<Vec<u8>, ReportError> {
    let meta = input.meta;
    let doc = MetricsDoc {
        model: ModelDoc {
            name: input.model_name,
            sha256: input.model_sha256,
            label: &meta.label,
            trees: meta.tree_seeds.len(),
            features: meta.features.len(),
            trainer: &meta.trainer,
            git_revision: meta.git_revision.as_deref(),
            training: &meta.training,
        },
        data: input.data_description,
        evaluation: input.evaluation,
        training_metrics: &meta.metrics,
        feature_importance: mdi,
        permutation_importance: input.permutation.map(ranked_permutation),
    };
    let mut bytes = serde_json::to_vec_pretty(&doc)?;
    bytes.push(b'\n');
    Ok(bytes)
}

// ---------------------------------------------------------------- report.md

/// Escapes text for Markdown tables and prose: a feature called `a|b` or
/// `*x*` must not break a table or turn bold.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// A JSON value for a table cell: numbers as numbers (floats to 4 places),
/// strings unquoted, anything else compact JSON.
fn json_cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) if n.is_f64() => {
            format!("{:.4}", n.as_f64().unwrap_or(f64::NAN))
        }
        serde_json::Value::String(s) => md(s),
        serde_json::Value::Null => "none".into(),
        other => md(&other.to_string()),
    }
}

fn report_markdown(
    input: &ReportInput,
    mdi: &[Ranked],
    permutation: Option<&[PermutationImportance]>,
) -> String {
    use std::fmt::Write;

    let e = input.evaluation;
    let meta = input.meta;
    let mut s = String::new();
    let _ = writeln!(s, "# Evaluation report: {}\n", md(input.model_name));
    let _ = writeln!(
        s,
        "Model {} evaluated on {}: accuracy **{:.4}**, macro-F1 **{:.4}**.\n",
        md(input.model_name),
        md(input.data_description),
        e.accuracy,
        e.macro_f1
    );

    s.push_str("| metric | value |\n|---|---:|\n");
    let _ = writeln!(s, "| rows | {} |", e.rows);
    let _ = writeln!(s, "| accuracy | {:.4} |", e.accuracy);
    let _ = writeln!(s, "| macro F1 | {:.4} |", e.macro_f1);
    let _ = writeln!(s, "| weighted F1 | {:.4} |", e.weighted_f1);
    match e.log_loss {
        Some(l) => {
            let _ = writeln!(s, "| log loss | {l:.4} |");
        }
        None => s.push_str("| log loss | not computed |\n"),
    }
    if let Some(obj) = meta.metrics.as_object() {
        for (k, v) in obj {
            let _ = writeln!(s, "| training: {} | {} |", md(k), json_cell(v));
        }
    }

    s.push_str("\n## Per-class scores\n\n");
    s.push_str("| class | precision | recall | F1 | support |\n|---|---:|---:|---:|---:|\n");
    for r in &e.per_class {
        let _ = writeln!(
            s,
            "| {} | {:.4} | {:.4} | {:.4} | {} |",
            md(&r.label),
            r.precision,
            r.recall,
            r.f1,
            r.support
        );
    }
    let n = e.per_class.len().max(1) as f64;
    let rows = e.rows.max(1) as f64;
    let mean = |f: fn(&forest_core::metrics::ClassReport) -> f64| {
        e.per_class.iter().map(f).sum::<f64>() / n
    };
    let weighted = |f: fn(&forest_core::metrics::ClassReport) -> f64| {
        e.per_class
            .iter()
            .map(|r| f(r) * r.support as f64)
            .sum::<f64>()
            / rows
    };
    let _ = writeln!(
        s,
        "| *macro avg* | {:.4} | {:.4} | {:.4} | {} |",
        mean(|r| r.precision),
        mean(|r| r.recall),
        e.macro_f1,
        e.rows
    );
    let _ = writeln!(
        s,
        "| *weighted avg* | {:.4} | {:.4} | {:.4} | {} |",
        weighted(|r| r.precision),
        weighted(|r| r.recall),
        e.weighted_f1,
        e.rows
    );

    s.push_str("\n## Confusion matrix\n\n");
    let _ = writeln!(s, "![Confusion matrix]({CONFUSION_SVG})\n");
    s.push_str(
        "Rows are the true class, columns the predicted class; the diagonal \
         (bold) is correct. The picture shades each row by its share of that \
         true class, so small classes stay readable; the numbers are counts.\n\n",
    );
    s.push_str("| true \\\\ predicted |");
    for c in &e.classes {
        let _ = write!(s, " {} |", md(c));
    }
    s.push_str(" total |\n|---|");
    for _ in 0..=e.classes.len() {
        s.push_str("---:|");
    }
    s.push('\n');
    for (t, (label, row)) in e.classes.iter().zip(&e.confusion).enumerate() {
        let _ = write!(s, "| **{}** |", md(label));
        for (p, count) in row.iter().enumerate() {
            if p == t {
                let _ = write!(s, " **{count}** |");
            } else {
                let _ = write!(s, " {count} |");
            }
        }
        let _ = writeln!(s, " {} |", row.iter().sum::<u64>());
    }
    s.push_str("| **total** |");
    for p in 0..e.classes.len() {
        let _ = write!(
            s,
            " {} |",
            e.confusion.iter().map(|row| row[p]).sum::<u64>()
        );
    }
    let _ = writeln!(s, " {} |", e.rows);

    s.push_str("\n## Feature importance\n\n");
    let _ = writeln!(
        s,
        "![Top features by mean decrease in impurity]({IMPORTANCE_SVG})\n"
    );
    if mdi.is_empty() {
        s.push_str("The model records no impurity importance.\n");
    } else {
        let _ = writeln!(
            s,
            "Top {} of {} features by mean decrease in impurity (normalised to \
             sum to 1, measured on the training data){}.\n",
            mdi.len().min(TOP_FEATURES),
            meta.features.len(),
            if permutation.is_some() {
                ", with their permutation importance on the evaluation data"
            } else {
                ""
            }
        );
        s.push_str("| rank | feature | impurity importance |");
        if permutation.is_some() {
            s.push_str(" permutation (accuracy drop) |\n|---:|---|---:|---:|\n");
        } else {
            s.push_str("\n|---:|---|---:|\n");
        }
        for (i, r) in mdi.iter().take(TOP_FEATURES).enumerate() {
            let _ = write!(
                s,
                "| {} | {} | {:.4} |",
                i + 1,
                md(&r.feature),
                r.importance
            );
            if let Some(perm) = permutation {
                match perm.iter().find(|p| p.feature == r.feature) {
                    Some(p) => {
                        let _ = write!(s, " {:.4} ± {:.4} |", p.mean, p.std);
                    }
                    None => s.push_str(" |"),
                }
            }
            s.push('\n');
        }
    }
    if let Some(perm) = permutation {
        s.push_str("\n### Permutation importance\n\n");
        let _ = writeln!(s, "![Permutation importance]({PERMUTATION_SVG})\n");
        s.push_str(
            "Drop in accuracy when one feature's values are shuffled across the \
             evaluation rows, mean ± standard deviation over the shuffles. Unlike \
             the impurity importance it is measured on data the model did not \
             train on and does not favour features with many distinct values.\n\n",
        );
        s.push_str("| rank | feature | accuracy drop | std |\n|---:|---|---:|---:|\n");
        for (i, p) in perm.iter().take(TOP_FEATURES).enumerate() {
            let _ = writeln!(
                s,
                "| {} | {} | {:.4} | {:.4} |",
                i + 1,
                md(&p.feature),
                p.mean,
                p.std
            );
        }
    }

    s.push_str("\n## Parameters\n\n");
    match meta.params.as_object() {
        Some(obj) if !obj.is_empty() => {
            s.push_str("| parameter | value |\n|---|---|\n");
            for (k, v) in obj {
                let _ = writeln!(s, "| {} | {} |", md(k), json_cell(v));
            }
        }
        _ => {
            let _ = writeln!(s, "{}", json_cell(&meta.params));
        }
    }

    s.push_str("\n## Provenance\n\n| | |\n|---|---|\n");
    let _ = writeln!(s, "| model file | {} |", md(input.model_name));
    let _ = writeln!(s, "| model sha256 | `{}` |", input.model_sha256);
    let _ = writeln!(s, "| trees | {} |", meta.tree_seeds.len());
    let _ = writeln!(s, "| features | {} |", meta.features.len());
    let _ = writeln!(s, "| label column | {} |", md(&meta.label));
    let _ = writeln!(
        s,
        "| classes | {} |",
        meta.classes
            .iter()
            .map(|c| md(c))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(s, "| trainer | {} |", md(&meta.trainer));
    let _ = writeln!(
        s,
        "| git revision | {} |",
        meta.git_revision
            .as_deref()
            .map_or_else(|| "not recorded".to_string(), md)
    );
    let _ = writeln!(
        s,
        "| training data | {} ({} rows, fingerprint `{}`) |",
        md(&meta.training.source),
        meta.training.rows,
        meta.training.fingerprint.replace('`', "")
    );
    let _ = writeln!(s, "| evaluation data | {} |", md(input.data_description));
    s
}

// ----------------------------------------------------------------- drawing

const FONT: FontFamily = FontFamily::SansSerif;
const INK: RGBColor = RGBColor(33, 37, 41);
const MUTED: RGBColor = RGBColor(108, 117, 125);
const GRID: RGBColor = RGBColor(222, 226, 230);
const MDI_BAR: RGBColor = RGBColor(76, 114, 176);
const PERM_BAR: RGBColor = RGBColor(221, 132, 82);

/// Estimated width in pixels of `s` at font size `px`, from per-character
/// widths close to DejaVu Sans and Helvetica (erring wide), since an SVG has
/// no font metrics until a viewer renders it.
fn text_width(s: &str, px: f64) -> f64 {
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
fn fit(s: &str, px: f64, max: f64, middle: bool) -> String {
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
struct Canvas<'a> {
    area: DrawingArea<SVGBackend<'a>, Shift>,
}

type Drawn = Result<(), String>;

impl Canvas<'_> {
    fn rect(&self, x0: i32, y0: i32, x1: i32, y1: i32, color: RGBColor) -> Drawn {
        let style = ShapeStyle {
            color: color.to_rgba(),
            filled: true,
            stroke_width: 0,
        };
        self.area
            .draw(&Rectangle::new([(x0, y0), (x1, y1)], style))
            .map_err(|e| e.to_string())
    }

    fn frame(&self, x0: i32, y0: i32, x1: i32, y1: i32, color: RGBColor) -> Drawn {
        let style = ShapeStyle {
            color: color.to_rgba(),
            filled: false,
            stroke_width: 1,
        };
        self.area
            .draw(&Rectangle::new([(x0, y0), (x1, y1)], style))
            .map_err(|e| e.to_string())
    }

    fn line(&self, points: Vec<(i32, i32)>, color: RGBColor, width: u32) -> Drawn {
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
    fn text(
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
fn render(width: u32, height: u32, draw: impl FnOnce(&Canvas) -> Drawn) -> Result<Vec<u8>, String> {
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
fn heading(c: &Canvas, title: &str, subtitle: &str, width: f64) -> Drawn {
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
fn heading_width(title: &str, subtitle: &str) -> i32 {
    (text_width(title, 16.0 * BOLD).max(text_width(subtitle, 12.0)) + 2.0 * MARGIN as f64)
        .min(MAX_TITLE_WIDTH)
        .ceil() as i32
}

/// Bold glyphs are about this much wider than regular ones.
const BOLD: f64 = 1.12;
const MARGIN: i32 = 16;
/// Space taken by [`heading`] plus a gap.
const HEADING: i32 = MARGIN + 24 + 16 + 18;
/// Widest a picture grows to fit its title.
const MAX_TITLE_WIDTH: f64 = 900.0;

/// Sequential white-to-blue colour of a share in `[0, 1]` (ColorBrewer's
/// "Blues" stops, linearly interpolated).
fn blues(share: f64) -> RGBColor {
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

fn confusion_svg(input: &ReportInput) -> Result<Vec<u8>, String> {
    let e = input.evaluation;
    let n = e.classes.len();
    const LABEL_PX: f64 = 13.0;
    const MAX_LABEL: f64 = 180.0;

    let cell = (520 / n as i32).clamp(34, 90);
    let labels: Vec<String> = e
        .classes
        .iter()
        .map(|c| fit(c, LABEL_PX, MAX_LABEL, true))
        .collect();
    let label_w = labels
        .iter()
        .map(|l| text_width(l, LABEL_PX))
        .fold(0.0, f64::max)
        .ceil() as i32;
    // Column labels sit under their cells when they fit, else they turn
    // vertical and read upwards.
    let vertical_columns = label_w > cell - 6;
    let column_labels_h = if vertical_columns { label_w } else { 16 };

    let counts: Vec<u64> = e.confusion.iter().flatten().copied().collect();
    let max_digits = counts
        .iter()
        .map(|c| c.to_string().len())
        .max()
        .unwrap_or(1);
    let count_px = (14.0f64).min((cell - 8) as f64 / (max_digits as f64 * 0.64));
    let show_share = cell >= 48;
    let supports: Vec<u64> = e.confusion.iter().map(|row| row.iter().sum()).collect();
    let support_w = supports
        .iter()
        .map(|s| text_width(&s.to_string(), 11.0))
        .fold(text_width("support", 11.0), f64::max)
        .ceil() as i32;

    let axis_title_w = 18;
    let mx = MARGIN + axis_title_w + 8 + label_w + 10;
    let my = HEADING + 18;
    let side = n as i32 * cell;
    let support_x = mx + side + 10;
    let bar_x = support_x + support_w + 18;
    let bar_w = 16;
    let tick_w = text_width("100%", 11.0).ceil() as i32;
    let content_w = bar_x + bar_w + 6 + tick_w + 10 + 16 + MARGIN;

    let title = format!("Confusion matrix · {}", input.model_name);
    // The description usually says how many rows already.
    let rows = e.rows.to_string();
    let subtitle = if input.data_description.contains(&rows) {
        format!(
            "{} · accuracy {:.4} · macro-F1 {:.4}",
            input.data_description, e.accuracy, e.macro_f1
        )
    } else {
        format!(
            "{} · {rows} rows · accuracy {:.4} · macro-F1 {:.4}",
            input.data_description, e.accuracy, e.macro_f1
        )
    };
    let width = content_w.max(heading_width(&title, &subtitle));
    let bottom_of_labels = my + side + 8 + column_labels_h;
    let height = bottom_of_labels + 10 + 16 + MARGIN;

    render(width as u32, height as u32, |c| {
        heading(c, &title, &subtitle, width as f64)?;
        for (t, row) in e.confusion.iter().enumerate() {
            let total = supports[t];
            for (p, &count) in row.iter().enumerate() {
                let share = if total == 0 {
                    0.0
                } else {
                    count as f64 / total as f64
                };
                let x0 = mx + p as i32 * cell;
                let y0 = my + t as i32 * cell;
                let fill = blues(share);
                c.rect(x0, y0, x0 + cell, y0 + cell, fill)?;
                let ink = if share > 0.5 {
                    WHITE
                } else if count == 0 {
                    MUTED
                } else {
                    INK
                };
                let cx = x0 + cell / 2;
                let cy = y0 + cell / 2;
                // An empty cell shows its 0 alone: a grid of "0%" would only
                // drown the errors that matter.
                let show_share = show_share && count > 0;
                let count_y = if show_share { cy - 6 } else { cy };
                c.text(
                    &count.to_string(),
                    (cx, count_y),
                    count_px,
                    ink,
                    (HPos::Center, VPos::Center),
                    p == t,
                    false,
                )?;
                if show_share {
                    let pct = share * 100.0;
                    let label = if pct < 1.0 {
                        "<1%".to_string()
                    } else {
                        format!("{pct:.0}%")
                    };
                    c.text(
                        &label,
                        (cx, cy + 11),
                        10.0,
                        ink,
                        (HPos::Center, VPos::Center),
                        false,
                        false,
                    )?;
                }
            }
        }
        // White gaps between the cells, then a frame and a diagonal outline.
        for k in 1..n as i32 {
            c.line(
                vec![(mx + k * cell, my), (mx + k * cell, my + side)],
                WHITE,
                1,
            )?;
            c.line(
                vec![(mx, my + k * cell), (mx + side, my + k * cell)],
                WHITE,
                1,
            )?;
        }
        c.frame(mx, my, mx + side, my + side, MUTED)?;

        // Row labels (true class) and the vertical axis title.
        for (t, label) in labels.iter().enumerate() {
            c.text(
                label,
                (mx - 8, my + t as i32 * cell + cell / 2),
                LABEL_PX,
                INK,
                (HPos::Right, VPos::Center),
                false,
                false,
            )?;
        }
        c.text(
            "True class",
            (MARGIN + axis_title_w / 2, my + side / 2),
            13.0,
            INK,
            (HPos::Center, VPos::Center),
            true,
            true,
        )?;
        // Column labels (predicted class) and the horizontal axis title.
        for (p, label) in labels.iter().enumerate() {
            let x = mx + p as i32 * cell + cell / 2;
            if vertical_columns {
                c.text(
                    label,
                    (x, my + side + 8),
                    LABEL_PX,
                    INK,
                    (HPos::Right, VPos::Center),
                    false,
                    true,
                )?;
            } else {
                c.text(
                    label,
                    (x, my + side + 8),
                    LABEL_PX,
                    INK,
                    (HPos::Center, VPos::Top),
                    false,
                    false,
                )?;
            }
        }
        c.text(
            "Predicted class",
            (mx + side / 2, bottom_of_labels + 10),
            13.0,
            INK,
            (HPos::Center, VPos::Top),
            true,
            false,
        )?;

        // Support of each true class, right of its row.
        c.text(
            "support",
            (support_x, my - 6),
            11.0,
            MUTED,
            (HPos::Left, VPos::Bottom),
            false,
            false,
        )?;
        for (t, s) in supports.iter().enumerate() {
            c.text(
                &s.to_string(),
                (support_x, my + t as i32 * cell + cell / 2),
                11.0,
                MUTED,
                (HPos::Left, VPos::Center),
                false,
                false,
            )?;
        }

        // Colour scale: share of the true class, 0 at the bottom.
        const STEPS: i32 = 64;
        for k in 0..STEPS {
            // Each step overlaps the one below by a pixel, so anti-aliased
            // edges leave no light seams.
            let y1 = my + side - k * side / STEPS + i32::from(k > 0);
            let y0 = my + side - (k + 1) * side / STEPS;
            c.rect(
                bar_x,
                y0,
                bar_x + bar_w,
                y1,
                blues((k as f64 + 0.5) / STEPS as f64),
            )?;
        }
        c.frame(bar_x, my, bar_x + bar_w, my + side, MUTED)?;
        for q in 0..=4 {
            let y = my + side - q * side / 4;
            c.line(vec![(bar_x + bar_w, y), (bar_x + bar_w + 4, y)], MUTED, 1)?;
            c.text(
                &format!("{}%", q * 25),
                (bar_x + bar_w + 6, y),
                11.0,
                MUTED,
                (HPos::Left, VPos::Center),
                false,
                false,
            )?;
        }
        c.text(
            "share of true class",
            (bar_x + bar_w + 6 + tick_w + 10 + 8, my + side / 2),
            11.0,
            MUTED,
            (HPos::Center, VPos::Center),
            false,
            true,
        )?;
        Ok(())
    })
}

/// Tick positions covering `[lo, hi]` at a 1-2-2.5-5 step, and the number
/// of decimals that prints the step exactly.
fn ticks(lo: f64, hi: f64) -> (Vec<f64>, usize) {
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

/// One bar of a horizontal bar chart.
struct Bar {
    name: String,
    value: f64,
    /// Half-width of the error bar, if any.
    err: Option<f64>,
    label: String,
}

/// A horizontal bar chart, largest bar on top, with a numeric axis below.
fn bar_chart(
    title: &str,
    subtitle: &str,
    axis_title: &str,
    bars: &[Bar],
    color: RGBColor,
    empty_message: &str,
) -> Result<Vec<u8>, String> {
    const NAME_PX: f64 = 12.0;
    const VALUE_PX: f64 = 11.0;
    const MAX_NAME: f64 = 240.0;
    const PLOT_W: i32 = 440;
    const PITCH: i32 = 24;
    const BAR_H: i32 = 16;

    let names: Vec<String> = bars
        .iter()
        .map(|b| fit(&b.name, NAME_PX, MAX_NAME, true))
        .collect();
    let name_w = names
        .iter()
        .map(|s| text_width(s, NAME_PX))
        .fold(0.0, f64::max)
        .ceil() as i32;
    let value_w = bars
        .iter()
        .map(|b| text_width(&b.label, VALUE_PX))
        .fold(0.0, f64::max)
        .ceil() as i32;

    let lo = bars
        .iter()
        .map(|b| finite(b.value) - finite(b.err.unwrap_or(0.0)))
        .fold(0.0, f64::min);
    let hi = bars
        .iter()
        .map(|b| finite(b.value) + finite(b.err.unwrap_or(0.0)))
        .fold(0.0, f64::max);
    let (tick_values, decimals) = ticks(lo, hi);
    let x_lo = tick_values[0];
    let x_hi = tick_values[tick_values.len() - 1];

    let px = MARGIN + name_w + 10;
    let py = HEADING;
    let plot_h = (bars.len().max(1) as i32) * PITCH + 8;
    let content_w = px + PLOT_W + 8 + value_w + MARGIN;
    let width = content_w.max(heading_width(title, subtitle));
    let height = py + plot_h + 6 + 16 + 8 + 16 + MARGIN;
    let x_of = |v: f64| px + ((finite(v) - x_lo) / (x_hi - x_lo) * PLOT_W as f64).round() as i32;

    render(width as u32, height as u32, |c| {
        heading(c, title, subtitle, width as f64)?;
        // Grid and tick labels.
        for &t in &tick_values {
            let x = x_of(t);
            c.line(vec![(x, py), (x, py + plot_h)], GRID, 1)?;
            c.line(vec![(x, py + plot_h), (x, py + plot_h + 4)], MUTED, 1)?;
            let t = if t.abs() < 1e-12 { 0.0 } else { t };
            c.text(
                &format!("{t:.decimals$}"),
                (x, py + plot_h + 6),
                VALUE_PX,
                MUTED,
                (HPos::Center, VPos::Top),
                false,
                false,
            )?;
        }
        c.line(
            vec![(px, py + plot_h), (px + PLOT_W, py + plot_h)],
            MUTED,
            1,
        )?;
        c.text(
            axis_title,
            (px + PLOT_W / 2, py + plot_h + 6 + 16 + 8),
            12.0,
            INK,
            (HPos::Center, VPos::Top),
            false,
            false,
        )?;
        if bars.is_empty() {
            c.text(
                empty_message,
                (px + PLOT_W / 2, py + plot_h / 2),
                12.0,
                MUTED,
                (HPos::Center, VPos::Center),
                false,
                false,
            )?;
            return Ok(());
        }
        let zero = x_of(0.0);
        for (i, (bar, name)) in bars.iter().zip(&names).enumerate() {
            let top = py + 4 + i as i32 * PITCH + (PITCH - BAR_H) / 2;
            let mid = top + BAR_H / 2;
            let end = x_of(bar.value);
            if end != zero {
                c.rect(zero.min(end), top, zero.max(end), top + BAR_H, color)?;
            }
            let mut right = zero.max(end);
            if let Some(err) = bar.err {
                let err = finite(err);
                let (a, b) = (x_of(bar.value - err), x_of(bar.value + err));
                c.line(vec![(a, mid), (b, mid)], INK, 1)?;
                c.line(vec![(a, mid - 4), (a, mid + 4)], INK, 1)?;
                c.line(vec![(b, mid - 4), (b, mid + 4)], INK, 1)?;
                right = right.max(b);
            }
            c.text(
                name,
                (px - 8, mid),
                NAME_PX,
                INK,
                (HPos::Right, VPos::Center),
                false,
                false,
            )?;
            c.text(
                &bar.label,
                (right + 5, mid),
                VALUE_PX,
                INK,
                (HPos::Left, VPos::Center),
                false,
                false,
            )?;
        }
        if x_lo < 0.0 {
            c.line(vec![(zero, py), (zero, py + plot_h)], MUTED, 1)?;
        }
        Ok(())
    })
}

fn importance_svg(
    input: &ReportInput,
    mdi: &[Ranked],
    n_features: usize,
) -> Result<Vec<u8>, String> {
    let bars: Vec<Bar> = mdi
        .iter()
        .take(TOP_FEATURES)
        .map(|r| Bar {
            name: r.feature.clone(),
            value: r.importance,
            err: None,
            label: format!("{:.4}", r.importance),
        })
        .collect();
    bar_chart(
        "Feature importance: mean decrease in impurity",
        &format!(
            "top {} of {} features, normalised to sum to 1 · {}",
            bars.len(),
            n_features,
            input.model_name
        ),
        "mean decrease in impurity (training data)",
        &bars,
        MDI_BAR,
        "the model records no impurity importance",
    )
}

fn permutation_svg(
    input: &ReportInput,
    ranked: &[PermutationImportance],
) -> Result<Vec<u8>, String> {
    let bars: Vec<Bar> = ranked
        .iter()
        .take(TOP_FEATURES)
        .map(|p| Bar {
            name: p.feature.clone(),
            value: p.mean,
            err: Some(p.std),
            label: format!("{:.4} ± {:.4}", p.mean, p.std),
        })
        .collect();
    bar_chart(
        "Permutation importance: accuracy drop when a feature is shuffled",
        &format!(
            "top {} of {} features, error bars ±1 std · {}",
            bars.len(),
            ranked.len(),
            input.data_description
        ),
        "drop in accuracy (evaluation data)",
        &bars,
        PERM_BAR,
        "no features",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use forest_core::metrics::evaluate;
    use forest_core::{FeatureDef, FeatureSpec};

    const CLASSES: [&str; 3] = ["High", "Medium", "Low"];
    const LONG: &str =
        "prior_mean_price_tier_of_products_in_the_basket_at_PROD_CODE_40_level_weighted";
    /// Where the long name sits: among the top 20 of both rankings.
    const LONG_AT: usize = 27;

    /// Confusion with every count distinct, so each can be looked for:
    /// High: [41, 7, 3], Medium: [5, 29, 2], Low: [1, 4, 11].
    fn evaluation() -> Evaluation {
        let rows = [[41usize, 7, 3], [5, 29, 2], [1, 4, 11]];
        let (mut truth, mut pred) = (Vec::new(), Vec::new());
        for (t, row) in rows.iter().enumerate() {
            for (p, &n) in row.iter().enumerate() {
                truth.extend(std::iter::repeat_n(t, n));
                pred.extend(std::iter::repeat_n(p, n));
            }
        }
        let classes: Vec<String> = CLASSES.iter().map(|s| s.to_string()).collect();
        evaluate(&classes, &truth, None, &pred).unwrap()
    }

    fn meta(n_features: usize) -> Metadata {
        let mut features: Vec<FeatureDef> = (0..n_features)
            .map(|i| FeatureDef::numeric(format!("f{i}")))
            .collect();
        features[LONG_AT].name = LONG.to_string();
        let raw: Vec<f64> = (0..n_features).map(|i| (i % 7 + 1) as f64).collect();
        let total: f64 = raw.iter().sum();
        Metadata {
            label: "BASKET_PRICE_SENSITIVITY".into(),
            classes: CLASSES.iter().map(|s| s.to_string()).collect(),
            features: FeatureSpec {
                features,
                ..FeatureSpec::default()
            },
            params: serde_json::json!({"n_trees": 100, "criterion": "gini", "max_depth": null}),
            training: TrainingInfo {
                source: "gold/ split train".into(),
                rows: 1234,
                fingerprint: "ab".repeat(32),
            },
            metrics: serde_json::json!({"oob_score": 0.8125, "oob_rows": 1200}),
            feature_importance: raw.iter().map(|v| v / total).collect(),
            tree_seeds: (0..100).collect(),
            trainer: "forest-train 0.1.0".into(),
            git_revision: None,
        }
    }

    fn permutation(n: usize) -> Vec<PermutationImportance> {
        (0..n)
            .map(|i| PermutationImportance {
                feature: if i == LONG_AT {
                    LONG.into()
                } else {
                    format!("f{i}")
                },
                mean: (i as f64 - 3.0) / 100.0,
                std: 0.004 * (i % 3) as f64,
            })
            .collect()
    }

    fn build(
        meta: &Metadata,
        eval: &Evaluation,
        perm: Option<&[PermutationImportance]>,
    ) -> ReportFiles {
        build_report(&ReportInput {
            model_name: "model.forest",
            model_sha256: &"0f".repeat(32),
            meta,
            evaluation: eval,
            data_description: "gold/ split test, 103 baskets",
            permutation: perm,
        })
        .unwrap()
    }

    /// Whether the SVG has a `<text>` element holding exactly `s` (plotters
    /// puts the text on a line of its own).
    fn has_text(svg: &str, s: &str) -> bool {
        svg.contains(&format!(">\n{s}\n</text>"))
    }

    fn text(files: &ReportFiles, name: &str) -> String {
        String::from_utf8(
            files
                .get(name)
                .unwrap_or_else(|| panic!("no {name}"))
                .to_vec(),
        )
        .unwrap()
    }

    #[test]
    fn produces_every_file_and_metrics_json_last() {
        let (m, e, p) = (meta(30), evaluation(), permutation(30));
        let with = build(&m, &e, Some(&p));
        let names: Vec<&str> = with.files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                CONFUSION_SVG,
                IMPORTANCE_SVG,
                PERMUTATION_SVG,
                REPORT_MD,
                METRICS_JSON
            ]
        );
        let without = build(&m, &e, None);
        let names: Vec<&str> = without.files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [CONFUSION_SVG, IMPORTANCE_SVG, REPORT_MD, METRICS_JSON]
        );
        for (name, bytes) in &with.files {
            assert!(!bytes.is_empty(), "{name} is empty");
            if name.ends_with(".svg") {
                let svg = std::str::from_utf8(bytes).unwrap();
                assert!(svg.starts_with("<svg"), "{name}");
                assert!(svg.trim_end().ends_with("</svg>"), "{name}");
            }
        }
    }

    #[test]
    fn metrics_json_holds_the_scores_and_provenance() {
        let (m, e, p) = (meta(30), evaluation(), permutation(30));
        let files = build(&m, &e, Some(&p));
        let v: serde_json::Value =
            serde_json::from_slice(files.get(METRICS_JSON).unwrap()).unwrap();
        assert_eq!(v["accuracy"].as_f64(), Some(e.accuracy));
        assert_eq!(v["macro_f1"].as_f64(), Some(e.macro_f1));
        assert_eq!(v["weighted_f1"].as_f64(), Some(e.weighted_f1));
        assert_eq!(v["rows"].as_u64(), Some(103));
        assert_eq!(v["per_class"].as_array().unwrap().len(), 3);
        assert_eq!(v["per_class"][2]["label"], "Low");
        assert_eq!(v["per_class"][2]["support"], 16);
        assert_eq!(
            v["confusion"],
            serde_json::json!([[41, 7, 3], [5, 29, 2], [1, 4, 11]])
        );
        assert_eq!(v["classes"], serde_json::json!(CLASSES));
        assert_eq!(v["model"]["name"], "model.forest");
        assert_eq!(v["model"]["sha256"], "0f".repeat(32));
        assert_eq!(v["model"]["trees"], 100);
        assert_eq!(v["data"], "gold/ split test, 103 baskets");
        assert_eq!(v["training_metrics"]["oob_score"], 0.8125);
        let mdi = v["feature_importance"].as_array().unwrap();
        assert_eq!(mdi.len(), 30);
        assert!(mdi
            .windows(2)
            .all(|w| w[0]["importance"].as_f64() >= w[1]["importance"].as_f64()));
        let perm = v["permutation_importance"].as_array().unwrap();
        assert_eq!(perm.len(), 30);
        assert_eq!(perm[0]["feature"], "f29");
        // The same value decoded back into the evaluation type.
        let back: Evaluation = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(back, e);

        let without = build(&m, &e, None);
        let v: serde_json::Value =
            serde_json::from_slice(without.get(METRICS_JSON).unwrap()).unwrap();
        assert!(v.get("permutation_importance").is_none());
    }

    #[test]
    fn confusion_svg_names_every_class_and_count() {
        let (m, e) = (meta(30), evaluation());
        let svg = text(&build(&m, &e, None), CONFUSION_SVG);
        for class in CLASSES {
            assert!(has_text(&svg, class), "label {class}");
        }
        for count in e.confusion.iter().flatten() {
            assert!(has_text(&svg, &count.to_string()), "count {count}");
        }
        for title in ["True class", "Predicted class", "share of true class"] {
            assert!(svg.contains(title), "{title}");
        }
    }

    #[test]
    fn the_report_is_deterministic() {
        let (m, e, p) = (meta(30), evaluation(), permutation(30));
        let a = build(&m, &e, Some(&p));
        let b = build(&m.clone(), &e.clone(), Some(&p.clone()));
        assert_eq!(a, b);
    }

    #[test]
    fn report_md_links_the_pictures_and_has_the_tables() {
        let (m, e, p) = (meta(30), evaluation(), permutation(30));
        let md = text(&build(&m, &e, Some(&p)), REPORT_MD);
        for svg in [CONFUSION_SVG, IMPORTANCE_SVG, PERMUTATION_SVG] {
            assert!(md.contains(&format!("]({svg})")), "no link to {svg}");
        }
        assert!(md.contains("| **High** | **41** | 7 | 3 | 51 |"), "{md}");
        assert!(md.contains("| accuracy | 0.7864 |"), "{md}");
        assert!(md.contains("| training: oob\\_score | 0.8125 |"), "{md}");
        assert!(md.contains("| n\\_trees | 100 |"), "{md}");
        assert!(md.contains(&"0f".repeat(32)));
        let md = text(&build(&m, &e, None), REPORT_MD);
        assert!(!md.contains(PERMUTATION_SVG));
    }

    #[test]
    fn charts_show_the_top_features_with_long_names_shortened() {
        let (m, e, p) = (meta(30), evaluation(), permutation(30));
        let files = build(&m, &e, Some(&p));
        let svg = text(&files, IMPORTANCE_SVG);
        let bars = svg
            .matches(&format!(
                "fill=\"#{:02X}{:02X}{:02X}\"",
                MDI_BAR.0, MDI_BAR.1, MDI_BAR.2
            ))
            .count();
        assert_eq!(bars, TOP_FEATURES, "{svg}");
        assert!(!svg.contains(LONG));
        assert!(svg.contains("prior_mean"), "long name kept its start");
        assert!(svg.contains("weighted\n</text>"), "long name kept its end");
        let svg = text(&files, PERMUTATION_SVG);
        assert!(has_text(&svg, "f29"));
        assert!(!has_text(&svg, "f0"), "f0 is not in the top 20");
        // No features at all still gives a picture that says so.
        let mut bare = meta(30);
        bare.feature_importance.clear();
        let svg = text(&build(&bare, &e, None), IMPORTANCE_SVG);
        assert!(svg.contains("records no impurity importance"));
    }

    #[test]
    fn labels_are_escaped() {
        let mut e = evaluation();
        e.classes[0] = "a<b&c|d".into();
        e.per_class[0].label = e.classes[0].clone();
        let files = build(&meta(30), &e, None);
        assert!(text(&files, CONFUSION_SVG).contains(">\na&lt;b&amp;c|d\n</text>"));
        assert!(text(&files, REPORT_MD).contains("a\\<b&c\\|d"));
    }

    #[test]
    fn inconsistent_input_is_an_error() {
        let m = meta(30);
        let mut e = evaluation();
        e.confusion.pop();
        let err = build_report(&ReportInput {
            model_name: "m",
            model_sha256: "",
            meta: &m,
            evaluation: &e,
            data_description: "",
            permutation: None,
        })
        .unwrap_err();
        assert!(matches!(err, ReportError::Inconsistent(_)), "{err}");
    }

    #[test]
    fn many_classes_and_long_labels_fit() {
        let n = 12;
        let classes: Vec<String> = (0..n).map(|i| format!("category number {i}")).collect();
        let truth: Vec<usize> = (0..600).map(|i| i % n).collect();
        let pred: Vec<usize> = (0..600).map(|i| (i * 7 / 5) % n).collect();
        let e = evaluate(&classes, &truth, None, &pred).unwrap();
        let svg = text(&build(&meta(30), &e, None), CONFUSION_SVG);
        for c in &classes {
            assert!(has_text(&svg, c), "{c}");
        }
        assert!(
            svg.contains("rotate(270"),
            "long column labels turn vertical"
        );
    }

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
