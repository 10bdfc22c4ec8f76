//! Horizontal bar charts of the top features: mean decrease in impurity
//! (from training) and, when measured, permutation importance (on the
//! evaluation rows) with error bars. Largest bar on top, names on the left,
//! values at the bar ends, a numeric axis at round steps below.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::draw::{
    fit, heading, heading_width, render, text_width, ticks, GRID, HEADING, INK, MARGIN, MDI_BAR,
    MUTED, PERM_BAR,
};
use super::{finite, Ranked, ReportInput, TOP_FEATURES};
use forest_learn::PermutationImportance;

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

pub(super) fn importance_svg(
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

pub(super) fn permutation_svg(
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
    use crate::report::draw::MDI_BAR;
    use crate::report::tests::{build, evaluation, has_text, meta, permutation, text, LONG};
    use crate::report::{IMPORTANCE_SVG, PERMUTATION_SVG, TOP_FEATURES};

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
}
