//! `report.md`: the report for people. Headline scores, per-class scores,
//! the confusion matrix as a table under its picture, the top features,
//! the parameters and the provenance. Every name that came from the data
//! is escaped, so a feature or class label cannot break a table.

use super::{Ranked, ReportInput, CONFUSION_SVG, IMPORTANCE_SVG, PERMUTATION_SVG, TOP_FEATURES};
use forest_learn::PermutationImportance;

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

pub(super) fn report_markdown(
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
    for (name, precision, recall, f1) in e.averages() {
        let _ = writeln!(
            s,
            "| *{name}* | {precision:.4} | {recall:.4} | {f1:.4} | {} |",
            e.rows
        );
    }

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

#[cfg(test)]
mod tests {
    use crate::report::tests::{build, evaluation, meta, permutation, text};
    use crate::report::{CONFUSION_SVG, IMPORTANCE_SVG, PERMUTATION_SVG, REPORT_MD};

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
}
