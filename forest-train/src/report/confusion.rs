//! The confusion matrix as a heat map: true class down, predicted class
//! across, each cell shaded by its share of the true class (so small
//! classes stay readable) and labelled with its count, with each class's
//! support and a colour scale on the right.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::draw::{
    blues, fit, heading, heading_width, render, text_width, HEADING, INK, MARGIN, MUTED,
};
use super::ReportInput;

pub(super) fn confusion_svg(input: &ReportInput) -> Result<Vec<u8>, String> {
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

#[cfg(test)]
mod tests {
    use crate::report::tests::{build, evaluation, has_text, meta, text, CLASSES};
    use crate::report::CONFUSION_SVG;
    use forest_core::metrics::evaluate;

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
}
