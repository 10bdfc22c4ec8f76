//! Classification metrics, defined exactly as scikit-learn defines them.
//!
//! The trainer reports these numbers next to the ones a Python notebook
//! produces for the same data, so any difference in convention (how an
//! undefined precision is scored, which classes a macro average covers, how
//! log-loss clips) would look like a model difference when it is not. The
//! conventions, all of them scikit-learn's with `zero_division=0` and
//! `labels=` every class of the model:
//!
//! * precision of a class that is never predicted is 0, recall of a class with
//!   no support is 0, and F1 is 0 when both are 0;
//! * F1 is computed as `2·tp / (2·tp + fp + fn)`, the form scikit-learn uses,
//!   which equals the harmonic mean of precision and recall whenever that is
//!   defined;
//! * the macro F1 averages over *all* classes, including ones absent from the
//!   evaluation rows (they count as 0), and the weighted F1 weighs each class
//!   by its support;
//! * log-loss clips probabilities as described on [`evaluate`].
//!
//! Class indices are positions in the model's class list, as produced by
//! [`crate::Forest::predict_batch`]; labels are only used for reporting.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::predict::argmax;

/// Counts of (true class, predicted class) pairs.
///
/// `counts` is row-major with `n_classes` rows and columns: row = true class,
/// column = predicted class, the same orientation as scikit-learn's
/// `confusion_matrix`, so printed matrices can be compared side by side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    /// Number of classes; the matrix is `n_classes × n_classes`.
    pub n_classes: usize,
    /// `counts[t * n_classes + p]` rows of true class `t` predicted as `p`.
    pub counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// Tallies paired true and predicted class indices.
    ///
    /// Fails rather than truncating or skipping when the slices differ in
    /// length or an index is not below `n_classes`: either means the rows
    /// and the model disagree, and a silently partial matrix would hide it.
    pub fn from_predictions(
        n_classes: usize,
        truth: &[usize],
        predicted: &[usize],
    ) -> Result<Self, ModelError> {
        if truth.len() != predicted.len() {
            return Err(ModelError::input(format!(
                "{} true classes but {} predictions",
                truth.len(),
                predicted.len()
            )));
        }
        let mut counts = vec![0u64; n_classes * n_classes];
        for (row, (&t, &p)) in truth.iter().zip(predicted).enumerate() {
            for (what, class) in [("true", t), ("predicted", p)] {
                if class >= n_classes {
                    return Err(ModelError::input(format!(
                        "row {row}: {what} class {class} out of range for {n_classes} classes"
                    )));
                }
            }
            counts[t * n_classes + p] += 1;
        }
        Ok(Self { n_classes, counts })
    }

    /// Number of rows of true class `truth` predicted as `predicted`.
    ///
    /// Panics if either index is not below `n_classes`, like slice indexing.
    pub fn get(&self, truth: usize, predicted: usize) -> u64 {
        assert!(
            truth < self.n_classes && predicted < self.n_classes,
            "class index out of range"
        );
        self.counts[truth * self.n_classes + predicted]
    }

    /// The matrix as one `Vec` per true class, the shape JSON reports use.
    pub fn rows(&self) -> Vec<Vec<u64>> {
        if self.n_classes == 0 {
            return Vec::new();
        }
        self.counts
            .chunks_exact(self.n_classes)
            .map(<[u64]>::to_vec)
            .collect()
    }

    /// Total number of rows tallied.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Rows of true class `class` (its support).
    fn support(&self, class: usize) -> u64 {
        (0..self.n_classes).map(|p| self.get(class, p)).sum()
    }

    /// Rows predicted as `class`.
    fn predicted(&self, class: usize) -> u64 {
        (0..self.n_classes).map(|t| self.get(t, class)).sum()
    }
}

/// Precision, recall and F1 of one class, as in a row of scikit-learn's
/// `classification_report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassReport {
    /// The class label.
    pub label: String,
    /// `tp / (tp + fp)`, 0 when the class is never predicted.
    pub precision: f64,
    /// `tp / (tp + fn)`, 0 when the class has no support.
    pub recall: f64,
    /// `2·tp / (2·tp + fp + fn)`, 0 when precision and recall are both 0.
    pub f1: f64,
    /// Rows whose true class is this one.
    pub support: u64,
}

/// Scores of a set of predictions against the true classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Number of rows evaluated.
    pub rows: u64,
    /// Fraction of rows predicted correctly.
    pub accuracy: f64,
    /// Unweighted mean of per-class F1 over all classes.
    pub macro_f1: f64,
    /// Support-weighted mean of per-class F1.
    pub weighted_f1: f64,
    /// Mean cross-entropy of the true class; `None` when no probabilities
    /// were given (hard predictions carry no calibration information).
    pub log_loss: Option<f64>,
    /// One report per class, in class-index order.
    pub per_class: Vec<ClassReport>,
    /// Confusion matrix, rows = true class, columns = predicted class.
    pub confusion: Vec<Vec<u64>>,
    /// Class labels, in class-index order.
    pub classes: Vec<String>,
}

/// Scores `predicted` against `truth`, plus log-loss if `proba` is given.
///
/// `proba` is row-major, `truth.len() × classes.len()`. Its values must lie in
/// `[0, 1]` (scikit-learn rejects anything else too); rows need not sum to
/// exactly 1, since scikit-learn only warns about that.
///
/// Log-loss is the mean over rows of `-ln(p_true)`, with each probability
/// clipped to `[ε, 1 − ε]` where `ε = f32::EPSILON`. That is what
/// scikit-learn ≥ 1.5 does: it clips with the machine epsilon of the input's
/// dtype, and our probabilities are `f32`, so feeding the same `float32`
/// array to `sklearn.metrics.log_loss` gives the same number (up to its
/// `float32` summation; we sum in `f64`). Like modern scikit-learn, and
/// unlike versions before 1.5, rows are not renormalised after clipping. The
/// clip keeps a confidently wrong prediction (`p_true = 0`) finite, at
/// `23·ln 2 ≈ 15.9` for that row.
///
/// Zero rows is an error: every metric would be 0/0, and a NaN in a report
/// is easier to miss than an error.
pub fn evaluate(
    classes: &[String],
    truth: &[usize],
    proba: Option<&[f32]>,
    predicted: &[usize],
) -> Result<Evaluation, ModelError> {
    let n_classes = classes.len();
    let confusion = ConfusionMatrix::from_predictions(n_classes, truth, predicted)?;
    if truth.is_empty() {
        return Err(ModelError::input("no rows to evaluate"));
    }
    let log_loss = proba
        .map(|proba| log_loss(n_classes, truth, proba))
        .transpose()?;

    let n_rows = truth.len() as u64;
    let correct: u64 = (0..n_classes).map(|c| confusion.get(c, c)).sum();
    let per_class: Vec<ClassReport> = classes
        .iter()
        .enumerate()
        .map(|(c, label)| {
            let tp = confusion.get(c, c);
            let support = confusion.support(c);
            let predicted = confusion.predicted(c);
            let fp = predicted - tp;
            let fn_ = support - tp;
            ClassReport {
                label: label.clone(),
                precision: ratio(tp, predicted),
                recall: ratio(tp, support),
                f1: ratio(2 * tp, 2 * tp + fp + fn_),
                support,
            }
        })
        .collect();
    // n_classes > 0 here: a non-empty `truth` passed the range check.
    let macro_f1 = per_class.iter().map(|r| r.f1).sum::<f64>() / n_classes as f64;
    let weighted_f1 = per_class
        .iter()
        .map(|r| r.f1 * r.support as f64)
        .sum::<f64>()
        / n_rows as f64;

    Ok(Evaluation {
        rows: n_rows,
        accuracy: ratio(correct, n_rows),
        macro_f1,
        weighted_f1,
        log_loss,
        per_class,
        confusion: confusion.rows(),
        classes: classes.to_vec(),
    })
}

/// [`evaluate`] with the predictions derived from `proba` by
/// [`crate::argmax`] per row, exactly as the model predicts,
/// so ties go to the lowest class index as in numpy.
pub fn evaluate_proba(
    classes: &[String],
    truth: &[usize],
    proba: &[f32],
) -> Result<Evaluation, ModelError> {
    check_proba_shape(classes.len(), truth.len(), proba)?;
    if classes.is_empty() {
        return Err(ModelError::input("no classes to evaluate"));
    }
    let predicted: Vec<usize> = proba.chunks_exact(classes.len()).map(argmax).collect();
    evaluate(classes, truth, Some(proba), &predicted)
}

/// `num / den`, or 0 when `den` is 0: scikit-learn's `zero_division=0`.
fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

fn check_proba_shape(n_classes: usize, n_rows: usize, proba: &[f32]) -> Result<(), ModelError> {
    if proba.len() != n_rows * n_classes {
        return Err(ModelError::input(format!(
            "expected {n_rows} rows of {n_classes} probabilities, got {} values",
            proba.len()
        )));
    }
    Ok(())
}

/// Mean clipped cross-entropy; see [`evaluate`] for the clipping rule.
/// `truth` has already been range-checked and is non-empty.
fn log_loss(n_classes: usize, truth: &[usize], proba: &[f32]) -> Result<f64, ModelError> {
    check_proba_shape(n_classes, truth.len(), proba)?;
    if let Some(i) = proba.iter().position(|p| !(0.0..=1.0).contains(p)) {
        return Err(ModelError::input(format!(
            "row {}: probability {} is not in [0, 1]",
            i / n_classes,
            proba[i]
        )));
    }
    let eps = f32::EPSILON;
    let total: f64 = proba
        .chunks_exact(n_classes)
        .zip(truth)
        .map(|(row, &t)| -f64::from(row[t].clamp(eps, 1.0 - eps)).ln())
        .sum();
    Ok(total / truth.len() as f64)
}

impl Evaluation {
    /// The unweighted mean of a per-class score over the classes
    /// (scikit-learn's "macro avg").
    pub fn macro_avg(&self, score: fn(&ClassReport) -> f64) -> f64 {
        let n = self.per_class.len().max(1) as f64;
        self.per_class.iter().map(score).sum::<f64>() / n
    }

    /// The two summary rows of a classification report: its name
    /// (`macro avg`, `weighted avg`), precision, recall and F1.
    pub fn averages(&self) -> [(&'static str, f64, f64, f64); 2] {
        [
            (
                "macro avg",
                self.macro_avg(|r| r.precision),
                self.macro_avg(|r| r.recall),
                self.macro_f1,
            ),
            (
                "weighted avg",
                self.weighted_avg(|r| r.precision),
                self.weighted_avg(|r| r.recall),
                self.weighted_f1,
            ),
        ]
    }

    /// The mean of a per-class score weighted by each class's support
    /// (scikit-learn's "weighted avg").
    pub fn weighted_avg(&self, score: fn(&ClassReport) -> f64) -> f64 {
        let rows = self.rows.max(1) as f64;
        self.per_class
            .iter()
            .map(|r| score(r) * r.support as f64)
            .sum::<f64>()
            / rows
    }

    /// A plain-text report: the table of scikit-learn's
    /// `classification_report` (with 4 decimals rather than 2, since model
    /// comparisons often differ in the third), log-loss if known, and the
    /// confusion matrix with class labels on both axes.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;

        const DIGITS: usize = 4;
        let mut out = String::new();
        let width = self
            .classes
            .iter()
            .map(String::len)
            .chain(["weighted avg".len()])
            .max()
            .unwrap_or(0);
        let col = 10;
        let _ = writeln!(
            out,
            "{:>width$}{:>col$}{:>col$}{:>col$}{:>col$}\n",
            "", "precision", "recall", "f1-score", "support"
        );
        for r in &self.per_class {
            let _ = writeln!(
                out,
                "{:>width$}{:>col$.DIGITS$}{:>col$.DIGITS$}{:>col$.DIGITS$}{:>col$}",
                r.label, r.precision, r.recall, r.f1, r.support
            );
        }
        out.push('\n');
        let _ = writeln!(
            out,
            "{:>width$}{:>col$}{:>col$}{:>col$.DIGITS$}{:>col$}",
            "accuracy", "", "", self.accuracy, self.rows
        );
        for (name, precision, recall, f1) in self.averages() {
            let _ = writeln!(
                out,
                "{:>width$}{:>col$.DIGITS$}{:>col$.DIGITS$}{:>col$.DIGITS$}{:>col$}",
                name, precision, recall, f1, self.rows
            );
        }
        if let Some(loss) = self.log_loss {
            let _ = writeln!(out, "\nlog loss: {loss:.6}");
        }

        let _ = writeln!(
            out,
            "\nconfusion matrix (rows: true class, columns: predicted class)"
        );
        let label_width = self
            .classes
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(0)
            .max("true \\ pred".len());
        let cell = self
            .classes
            .iter()
            .map(String::len)
            .chain(self.confusion.iter().flatten().map(|c| c.to_string().len()))
            .max()
            .unwrap_or(1)
            + 2;
        let _ = write!(out, "{:<label_width$}", "true \\ pred");
        for label in &self.classes {
            let _ = write!(out, "{label:>cell$}");
        }
        out.push('\n');
        for (label, row) in self.classes.iter().zip(&self.confusion) {
            let _ = write!(out, "{label:<label_width$}");
            for count in row {
                let _ = write!(out, "{count:>cell$}");
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    /// Three classes, class `c` never predicted.
    ///
    /// confusion (rows true, cols predicted):
    ///   a: [1, 1, 0]   b: [1, 2, 0]   c: [1, 0, 0]
    /// a: p = 1/3, r = 1/2, f1 = 2/(2+2+1) = 2/5
    /// b: p = 2/3, r = 2/3, f1 = 2/3
    /// c: p = 0 (never predicted), r = 0, f1 = 0
    /// accuracy 3/6; macro f1 (2/5 + 2/3 + 0)/3 = 16/45;
    /// weighted f1 (2·2/5 + 3·2/3 + 1·0)/6 = 7/15.
    /// True-class probabilities 1/2, 1/4, 1/2, 1, 1/4, 0: the 1 clips to
    /// 1 − 2⁻²³ and the 0 to 2⁻²³, so log-loss =
    /// (ln2 + 2ln2 + ln2 − ln(1 − 2⁻²³) + 2ln2 + 23ln2) / 6.
    #[test]
    fn hand_computed_three_classes_one_never_predicted() {
        let classes = labels(&["a", "b", "c"]);
        let truth = [0, 0, 1, 1, 1, 2];
        let predicted = [0, 1, 1, 1, 0, 0];
        #[rustfmt::skip]
        let proba = [
            0.5, 0.25, 0.25,
            0.25, 0.5, 0.25,
            0.25, 0.5, 0.25,
            0.0, 1.0, 0.0,
            0.5, 0.25, 0.25,
            1.0, 0.0, 0.0,
        ];
        let e = evaluate(&classes, &truth, Some(&proba), &predicted).unwrap();
        assert_eq!(e.rows, 6);
        assert_eq!(
            e.confusion,
            vec![vec![1, 1, 0], vec![1, 2, 0], vec![1, 0, 0]]
        );
        assert_eq!(e.classes, classes);
        close(e.accuracy, 0.5, 1e-15);
        let expect = [
            ("a", 1.0 / 3.0, 0.5, 0.4, 2),
            ("b", 2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 3),
            ("c", 0.0, 0.0, 0.0, 1),
        ];
        for (r, (label, p, rec, f1, support)) in e.per_class.iter().zip(expect) {
            assert_eq!(r.label, label);
            close(r.precision, p, 1e-15);
            close(r.recall, rec, 1e-15);
            close(r.f1, f1, 1e-15);
            assert_eq!(r.support, support);
        }
        close(e.macro_f1, 16.0 / 45.0, 1e-15);
        close(e.weighted_f1, 7.0 / 15.0, 1e-15);
        let ln2 = std::f64::consts::LN_2;
        let expected_loss = (29.0 * ln2 - (1.0 - 2f64.powi(-23)).ln()) / 6.0;
        close(e.log_loss.unwrap(), expected_loss, 1e-12);

        // The same probabilities give the same predictions through argmax.
        let from_proba = evaluate_proba(&classes, &truth, &proba).unwrap();
        assert_eq!(from_proba, e);

        let hard = evaluate(&classes, &truth, None, &predicted).unwrap();
        assert_eq!(hard.log_loss, None);
        assert_eq!(hard.per_class, e.per_class);
    }

    /// Expected values from scikit-learn 1.9.1 (numpy 2.4.6), with
    /// `y = [0,0,0,0,1,1,1,1,2,2,2,2]`, `P` = `proba` below as `np.float32`,
    /// `pred = P.argmax(1)` and `labels=[0,1,2]`:
    /// `accuracy_score(y, pred)`,
    /// `f1_score(y, pred, labels=labels, average='macro'|'weighted', zero_division=0)`,
    /// `precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)`,
    /// `log_loss(y, P, labels=labels)` (float32 input, so clipped at
    /// `finfo(float32).eps`; row 3 has true-class probability 0 and row 1 is an
    /// argmax tie), `confusion_matrix(y, pred, labels=labels)`.
    #[test]
    fn matches_scikit_learn_with_probabilities() {
        let classes = labels(&["x", "y", "z"]);
        let truth = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2];
        #[rustfmt::skip]
        let proba: [f32; 36] = [
            0.7, 0.2, 0.1,
            0.5, 0.5, 0.0,
            0.2, 0.6, 0.2,
            0.0, 0.3, 0.7,
            0.1, 0.8, 0.1,
            0.3, 0.4, 0.3,
            0.6, 0.3, 0.1,
            0.25, 0.5, 0.25,
            0.1, 0.1, 0.8,
            0.2, 0.2, 0.6,
            0.4, 0.45, 0.15,
            0.05, 0.05, 0.9,
        ];
        let e = evaluate_proba(&classes, &truth, &proba).unwrap();
        assert_eq!(
            e.confusion,
            vec![vec![2, 1, 1], vec![1, 3, 0], vec![0, 1, 3]]
        );
        close(e.accuracy, 0.6666666666666666, 1e-9);
        close(e.macro_f1, 0.6626984126984127, 1e-9);
        close(e.weighted_f1, 0.6626984126984127, 1e-9);
        let precision = [0.6666666666666666, 0.6, 0.75];
        let recall = [0.5, 0.75, 0.75];
        let f1 = [0.5714285714285714, 0.6666666666666666, 0.75];
        for (c, r) in e.per_class.iter().enumerate() {
            close(r.precision, precision[c], 1e-9);
            close(r.recall, recall[c], 1e-9);
            close(r.f1, f1[c], 1e-9);
            assert_eq!(r.support, 4);
        }
        close(e.log_loss.unwrap(), 2.0312206745147705, 1e-6);
    }

    /// Expected values from scikit-learn 1.9.1 with
    /// `y = [0,0,1,1,2,2,2,0]`, `pred = [0,3,0,2,2,2,0,0]`, `labels=[0,1,2,3]`:
    /// class 1 is never predicted and class 3 has no support but is predicted,
    /// so both score 0 and still count in the macro average.
    /// Same calls as above, without log-loss.
    #[test]
    fn matches_scikit_learn_with_absent_classes() {
        let classes = labels(&["0", "1", "2", "3"]);
        let truth = [0, 0, 1, 1, 2, 2, 2, 0];
        let predicted = [0, 3, 0, 2, 2, 2, 0, 0];
        let e = evaluate(&classes, &truth, None, &predicted).unwrap();
        assert_eq!(
            e.confusion,
            vec![
                vec![2, 0, 0, 1],
                vec![1, 0, 1, 0],
                vec![1, 0, 2, 0],
                vec![0, 0, 0, 0]
            ]
        );
        close(e.accuracy, 0.5, 1e-9);
        close(e.macro_f1, 0.30952380952380953, 1e-9);
        close(e.weighted_f1, 0.4642857142857143, 1e-9);
        let precision = [0.5, 0.0, 0.6666666666666666, 0.0];
        let recall = [0.6666666666666666, 0.0, 0.6666666666666666, 0.0];
        let f1 = [0.5714285714285714, 0.0, 0.6666666666666666, 0.0];
        let support = [3, 2, 3, 0];
        for (c, r) in e.per_class.iter().enumerate() {
            close(r.precision, precision[c], 1e-9);
            close(r.recall, recall[c], 1e-9);
            close(r.f1, f1[c], 1e-9);
            assert_eq!(r.support, support[c]);
        }
    }

    #[test]
    fn confusion_matrix_accessors() {
        let m = ConfusionMatrix::from_predictions(2, &[0, 1, 1], &[1, 1, 0]).unwrap();
        assert_eq!(m.counts, vec![0, 1, 1, 1]);
        assert_eq!(m.get(0, 1), 1);
        assert_eq!(m.get(1, 1), 1);
        assert_eq!(m.rows(), vec![vec![0, 1], vec![1, 1]]);
        assert_eq!(m.total(), 3);
    }

    #[test]
    fn mismatched_lengths_are_errors() {
        let classes = labels(&["a", "b"]);
        assert!(matches!(
            ConfusionMatrix::from_predictions(2, &[0, 1], &[0]),
            Err(ModelError::Input { .. })
        ));
        assert!(matches!(
            evaluate(&classes, &[0, 1], None, &[0]),
            Err(ModelError::Input { .. })
        ));
        // Probabilities for the wrong number of rows or classes.
        assert!(matches!(
            evaluate(&classes, &[0, 1], Some(&[1.0, 0.0, 0.0]), &[0, 1]),
            Err(ModelError::Input { .. })
        ));
        assert!(matches!(
            evaluate_proba(&classes, &[0, 1], &[1.0, 0.0, 0.0]),
            Err(ModelError::Input { .. })
        ));
    }

    #[test]
    fn out_of_range_classes_are_errors() {
        let classes = labels(&["a", "b"]);
        assert!(matches!(
            ConfusionMatrix::from_predictions(2, &[0, 2], &[0, 1]),
            Err(ModelError::Input { .. })
        ));
        assert!(matches!(
            evaluate(&classes, &[0, 1], None, &[0, 5]),
            Err(ModelError::Input { .. })
        ));
        assert!(matches!(
            evaluate_proba(&classes, &[0, 2], &[1.0, 0.0, 0.0, 1.0]),
            Err(ModelError::Input { .. })
        ));
        assert!(matches!(
            evaluate_proba(&[], &[0], &[]),
            Err(ModelError::Input { .. })
        ));
    }

    #[test]
    fn probabilities_outside_unit_interval_are_errors() {
        let classes = labels(&["a", "b"]);
        for bad in [f32::NAN, -0.1, 1.5] {
            assert!(matches!(
                evaluate(&classes, &[0], Some(&[bad, 0.5]), &[0]),
                Err(ModelError::Input { .. })
            ));
        }
    }

    #[test]
    fn empty_input_is_an_error() {
        let classes = labels(&["a", "b"]);
        assert!(matches!(
            evaluate(&classes, &[], None, &[]),
            Err(ModelError::Input { .. })
        ));
        assert!(matches!(
            evaluate_proba(&classes, &[], &[]),
            Err(ModelError::Input { .. })
        ));
        // An empty matrix itself is fine; only scoring it is not.
        let m = ConfusionMatrix::from_predictions(2, &[], &[]).unwrap();
        assert_eq!(m.total(), 0);
    }

    #[test]
    fn serde_round_trip_and_text_report() {
        let classes = labels(&["setosa", "versicolor", "virginica"]);
        let truth = [0, 0, 1, 1, 1, 2];
        let predicted = [0, 1, 1, 1, 0, 0];
        let proba = [
            0.9, 0.1, 0.0, 0.4, 0.6, 0.0, 0.1, 0.8, 0.1, 0.2, 0.7, 0.1, 0.6, 0.3, 0.1, 0.5, 0.3,
            0.2,
        ];
        let e = evaluate(&classes, &truth, Some(&proba), &predicted).unwrap();
        let json = serde_json::to_string(&e).unwrap();
        let back: Evaluation = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);

        let text = e.to_text();
        for needle in [
            "precision",
            "f1-score",
            "versicolor",
            "accuracy",
            "macro avg",
            "weighted avg",
            "log loss",
            "confusion matrix",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
        // The confusion matrix has a header line of labels and one line per
        // true class, labelled.
        let matrix: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("true \\ pred"))
            .collect();
        assert_eq!(matrix.len(), 4, "{text}");
        assert!(matrix[0].contains("setosa") && matrix[0].contains("virginica"));
        assert!(matrix[3].starts_with("virginica"));
        let counts: Vec<&str> = matrix[3].split_whitespace().skip(1).collect();
        assert_eq!(counts, ["1", "0", "0"]);
    }
}
