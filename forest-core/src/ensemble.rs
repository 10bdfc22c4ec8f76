//! How a forest's trees make one answer.
//!
//! A random forest (what `forest-learn` grows, and scikit-learn's) averages
//! its leaves' class distributions: [`Ensemble::Average`]. Boosted trees
//! (LightGBM, XGBoost) and tree ensembles exported to ONNX instead add up
//! leaf values per output, add a base score and map the sums to
//! probabilities with a link function: [`Ensemble::Sum`].
//!
//! Imported models must answer what their library answers, to about the
//! last bit of an `f32`. The libraries do not agree on the arithmetic, so a
//! [`Sum`] names it ([`Precision`]): LightGBM sums in `f64`; XGBoost starts
//! from the base margin and sums in `f32`; onnxruntime sums in `f32` and
//! adds the base at the end. The links follow each library's formula
//! ([`Link`]). The interpreter and compiled models call the same functions
//! here ([`Sum::start`], [`Sum::finish_f32`], [`Sum::finish_f64`]), so they
//! agree bit for bit.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// How leaf values combine into class probabilities.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ensemble {
    /// The mean of the trees' leaf distributions, summed in `f32` in tree
    /// order and divided by the tree count (scikit-learn's rule).
    #[default]
    Average,
    /// Per class, the sum of the trees' leaf values (a tree that feeds one
    /// class carries 0 for the others), then a base score and a link.
    Sum(Sum),
}

impl Ensemble {
    /// Whether this is the random forest's average (the default, which
    /// artifacts do not spell out).
    pub fn is_average(&self) -> bool {
        matches!(self, Ensemble::Average)
    }

    /// Checks an ensemble read from untrusted bytes against the forest's
    /// class count.
    pub fn validate(&self, n_classes: usize) -> Result<(), ModelError> {
        let Ensemble::Sum(s) = self else {
            return Ok(());
        };
        let bad = |m: String| Err(ModelError::Invalid(format!("ensemble: {m}")));
        if s.base.len() != n_classes {
            return bad(format!(
                "{} base scores for {n_classes} classes",
                s.base.len()
            ));
        }
        if s.base.iter().any(|b| !b.is_finite()) {
            return bad("base scores must be finite".into());
        }
        if !(s.divisor.is_finite() && s.divisor > 0.0) {
            return bad(format!("divisor {} must be finite and > 0", s.divisor));
        }
        match s.link {
            Link::Logistic { scale } if !scale.is_finite() => {
                bad(format!("logistic scale {scale} must be finite"))
            }
            Link::Logistic { .. } | Link::Complement if n_classes != 2 => bad(format!(
                "a {:?} link answers two classes, not {n_classes}",
                s.link
            )),
            _ => Ok(()),
        }
    }
}

/// Sums of leaf values, a base score and a link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sum {
    /// Per class, the base score (the margin before any tree).
    pub base: Vec<f64>,
    /// The sums are divided by this before the base is added (LightGBM's
    /// random forest mode averages its trees this way); 1 otherwise.
    #[serde(default = "one")]
    pub divisor: f64,
    /// The arithmetic of the sums.
    pub precision: Precision,
    /// From sums to probabilities.
    pub link: Link,
}

fn one() -> f64 {
    1.0
}

/// The arithmetic of a [`Sum`], after the library a model came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// LightGBM: `f64` sums from 0, divided by the divisor, plus the base,
    /// the link in `f64`; probabilities rounded to `f32` at the end.
    F64,
    /// XGBoost: `f32` sums that start at the base, the link in `f32`.
    F32BaseFirst,
    /// onnxruntime: `f32` sums from 0, plus the base, the link in `f32`.
    F32BaseLast,
}

/// From per-class sums `z` to class probabilities `p`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Link {
    /// `p = z`: the sums are already probabilities (an ONNX random forest,
    /// whose leaf weights are class shares divided by the tree count).
    Identity,
    /// Two classes, `p = [1 - z1, z1]` (an ONNX random forest over two
    /// classes, which stores the second class only).
    Complement,
    /// Two classes, `p1 = 1 / (1 + exp(-scale * z1))`, `p0 = 1 - p1`
    /// (binary boosting; each precision evaluates it as its library does).
    Logistic {
        /// LightGBM's `sigmoid` parameter; 1 for the others.
        scale: f64,
    },
    /// `p = softmax(z)` (multi-class boosting).
    Softmax,
}

impl Sum {
    /// The same rule, borrowed (what compiled models hold as a constant).
    pub fn view(&self) -> SumView<'_> {
        SumView {
            base: &self.base,
            divisor: self.divisor,
            precision: self.precision,
            link: self.link,
        }
    }

    /// See [`SumView::start`].
    pub fn start(&self, acc: &mut [f32]) {
        self.view().start(acc)
    }

    /// See [`SumView::finish_f32`].
    pub fn finish_f32(&self, acc: &[f32], out: &mut [f32]) {
        self.view().finish_f32(acc, out)
    }

    /// See [`SumView::finish_f64`].
    pub fn finish_f64(&self, acc: &[f64], out: &mut [f32]) {
        self.view().finish_f64(acc, out)
    }
}

/// A [`Sum`] over borrowed base scores: a compiled model's constant. The
/// arithmetic of every engine is these methods.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SumView<'a> {
    /// Per class, the base score.
    pub base: &'a [f64],
    /// See [`Sum::divisor`].
    pub divisor: f64,
    /// See [`Sum::precision`].
    pub precision: Precision,
    /// See [`Sum::link`].
    pub link: Link,
}

impl SumView<'_> {
    /// The `f32` accumulator's start: the base for
    /// [`Precision::F32BaseFirst`], zero otherwise (and for `f64`, zero).
    pub fn start(&self, acc: &mut [f32]) {
        for (a, b) in acc.iter_mut().zip(self.base) {
            *a = if self.precision == Precision::F32BaseFirst {
                *b as f32
            } else {
                0.0
            };
        }
    }

    /// Probabilities from `f32` sums of leaf values (started with
    /// [`Sum::start`]), into `out`.
    pub fn finish_f32(&self, acc: &[f32], out: &mut [f32]) {
        let mut z: Vec<f32> = acc.to_vec();
        if self.divisor != 1.0 {
            let d = self.divisor as f32;
            z.iter_mut().for_each(|v| *v /= d);
        }
        if self.precision != Precision::F32BaseFirst {
            for (v, b) in z.iter_mut().zip(self.base) {
                *v += *b as f32;
            }
        }
        match (self.link, self.precision) {
            (Link::Identity, _) => out.copy_from_slice(&z),
            (Link::Complement, _) => {
                out[0] = 1.0 - z[1];
                out[1] = z[1];
            }
            (Link::Logistic { scale }, Precision::F32BaseFirst) => {
                // XGBoost's `common::Sigmoid`: 1 / (expf(-x) + 1), with the
                // exponent clamped so that expf stays finite.
                let x = z[1] * scale as f32;
                let p = 1.0f32 / ((-x).min(88.7).exp() + 1.0f32);
                out[0] = 1.0 - p;
                out[1] = p;
            }
            (Link::Logistic { scale }, _) => {
                // onnxruntime's logistic: 1 / (1 + expf(-|v|)), mirrored
                // for negative v, for each class's own sign.
                let logistic = |v: f32| {
                    let q = 1.0f32 / (1.0f32 + (-v.abs()).exp());
                    if v < 0.0 {
                        1.0 - q
                    } else {
                        q
                    }
                };
                let v = z[1] * scale as f32;
                out[0] = logistic(-v);
                out[1] = logistic(v);
            }
            (Link::Softmax, Precision::F32BaseFirst) => {
                // XGBoost's `common::Softmax`: f32 exponentials, their sum
                // in f64, each divided by the sum as f32.
                let max = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                let e: Vec<f32> = z.iter().map(|v| (v - max).exp()).collect();
                let sum: f64 = e.iter().map(|&v| f64::from(v)).sum();
                for (o, v) in out.iter_mut().zip(&e) {
                    *o = v / sum as f32;
                }
            }
            (Link::Softmax, _) => {
                let max = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                let e: Vec<f32> = z.iter().map(|v| (v - max).exp()).collect();
                let sum: f32 = e.iter().sum();
                for (o, v) in out.iter_mut().zip(&e) {
                    *o = v / sum;
                }
            }
        }
    }

    /// Probabilities from `f64` sums of leaf values (started at zero), into
    /// `out` ([`Precision::F64`]).
    pub fn finish_f64(&self, acc: &[f64], out: &mut [f32]) {
        let z: Vec<f64> = acc
            .iter()
            .zip(self.base)
            .map(|(a, b)| a / self.divisor + b)
            .collect();
        match self.link {
            Link::Identity => {
                for (o, v) in out.iter_mut().zip(&z) {
                    *o = *v as f32;
                }
            }
            Link::Complement => {
                out[0] = (1.0 - z[1]) as f32;
                out[1] = z[1] as f32;
            }
            Link::Logistic { scale } => {
                let p = 1.0 / (1.0 + (-scale * z[1]).exp());
                out[0] = (1.0 - p) as f32;
                out[1] = p as f32;
            }
            Link::Softmax => {
                let max = z.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
                let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                for (o, v) in out.iter_mut().zip(&e) {
                    *o = (v / sum) as f32;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(precision: Precision, link: Link, base: Vec<f64>) -> Sum {
        Sum {
            base,
            divisor: 1.0,
            precision,
            link,
        }
    }

    #[test]
    fn links_give_probabilities() {
        let mut out = [0.0f32; 2];
        for precision in [Precision::F32BaseFirst, Precision::F32BaseLast] {
            let s = sum(precision, Link::Logistic { scale: 1.0 }, vec![0.0, 0.0]);
            s.finish_f32(&[0.0, 0.0], &mut out);
            assert_eq!(out, [0.5, 0.5]);
            s.finish_f32(&[0.0, 50.0], &mut out);
            assert!(out[1] > 0.999 && out[0] < 1e-6);
        }
        let s = sum(
            Precision::F64,
            Link::Logistic { scale: 2.0 },
            vec![0.0, 0.5],
        );
        s.finish_f64(&[0.0, 0.0], &mut out);
        assert!((out[1] - (1.0 / (1.0 + (-1.0f64).exp())) as f32).abs() < 1e-7);
        let mut three = [0.0f32; 3];
        let s = sum(Precision::F32BaseLast, Link::Softmax, vec![0.0; 3]);
        s.finish_f32(&[1.0, 1.0, 1.0], &mut three);
        assert!(three.iter().all(|p| (p - 1.0 / 3.0).abs() < 1e-7));
        let s = sum(Precision::F32BaseFirst, Link::Identity, vec![0.0; 3]);
        let mut acc = [9.0f32; 3];
        s.start(&mut acc);
        assert_eq!(acc, [0.0; 3]);
    }

    #[test]
    fn bad_ensembles_are_refused() {
        let ok = Ensemble::Sum(sum(Precision::F64, Link::Softmax, vec![0.0; 3]));
        assert!(ok.validate(3).is_ok());
        assert!(ok.validate(2).is_err());
        let binary = Ensemble::Sum(sum(Precision::F64, Link::Complement, vec![0.0; 3]));
        assert!(binary.validate(3).is_err());
        let nan = Ensemble::Sum(sum(Precision::F64, Link::Softmax, vec![f64::NAN; 3]));
        assert!(nan.validate(3).is_err());
    }
}
