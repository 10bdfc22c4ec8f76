//! The interpreter: walks the flat arrays of a [`Forest`] directly.
//!
//! It is the reference every faster engine is compared with, so it favours
//! obviousness: probabilities are summed tree by tree in tree order, then
//! divided by the number of trees, the order a compiled model must follow to
//! give bit-identical results.

use crate::ensemble::{Ensemble, Precision};
use crate::error::ModelError;
use crate::forest::Forest;

impl Forest {
    /// Class probabilities for one row of `n_features` values, written into
    /// `out` (length `n_classes`).
    pub fn predict_proba_into(&self, row: &[f32], out: &mut [f32]) -> Result<(), ModelError> {
        self.check_width(row.len(), 1)?;
        if out.len() != self.n_classes() {
            return Err(ModelError::input(format!(
                "output has room for {} classes, the model has {}",
                out.len(),
                self.n_classes()
            )));
        }
        match self.ensemble() {
            Ensemble::Average => {
                out.fill(0.0);
                for t in 0..self.n_trees() {
                    let leaf = self.leaf_of(t, row);
                    for (o, v) in out.iter_mut().zip(self.node_value(t, leaf)) {
                        *o += v;
                    }
                }
                let n_trees = self.n_trees() as f32;
                for o in out.iter_mut() {
                    *o /= n_trees;
                }
            }
            Ensemble::Sum(sum) if sum.precision == Precision::F64 => {
                let mut acc = vec![0.0f64; self.n_classes()];
                for t in 0..self.n_trees() {
                    let leaf = self.leaf_of(t, row);
                    for (a, v) in acc.iter_mut().zip(self.node_value(t, leaf)) {
                        *a += f64::from(*v);
                    }
                }
                sum.finish_f64(&acc, out);
            }
            Ensemble::Sum(sum) => {
                let mut acc = vec![0.0f32; self.n_classes()];
                sum.start(&mut acc);
                for t in 0..self.n_trees() {
                    let leaf = self.leaf_of(t, row);
                    for (a, v) in acc.iter_mut().zip(self.node_value(t, leaf)) {
                        *a += v;
                    }
                }
                sum.finish_f32(&acc, out);
            }
        }
        Ok(())
    }

    /// Class probabilities for one row.
    pub fn predict_proba(&self, row: &[f32]) -> Result<Vec<f32>, ModelError> {
        let mut out = vec![0.0; self.n_classes()];
        self.predict_proba_into(row, &mut out)?;
        Ok(out)
    }

    /// Class probabilities for a batch of rows stored row-major
    /// (`rows.len() == n_rows * n_features`), `n_rows * n_classes` numbers
    /// out, row-major.
    pub fn predict_proba_batch(&self, rows: &[f32]) -> Result<Vec<f32>, ModelError> {
        let nf = self.n_features();
        let n_rows = rows.len() / nf;
        self.check_width(rows.len(), n_rows)?;
        let k = self.n_classes();
        let mut out = vec![0.0f32; n_rows * k];
        if !self.ensemble().is_average() {
            // Sums in their own precision: row by row, like a single row.
            for (row, o) in rows.chunks_exact(nf).zip(out.chunks_exact_mut(k)) {
                self.predict_proba_into(row, o)?;
            }
            return Ok(out);
        }
        // Tree-major over the batch keeps one tree's nodes hot in cache while
        // every row visits it; per row the summation order is still tree order.
        for t in 0..self.n_trees() {
            for (row, acc) in rows.chunks_exact(nf).zip(out.chunks_exact_mut(k)) {
                let leaf = self.leaf_of(t, row);
                for (o, v) in acc.iter_mut().zip(self.node_value(t, leaf)) {
                    *o += v;
                }
            }
        }
        let n_trees = self.n_trees() as f32;
        for o in out.iter_mut() {
            *o /= n_trees;
        }
        Ok(out)
    }

    /// The most probable class of each row of a row-major batch; ties go to
    /// the lowest class index, as numpy's argmax does.
    pub fn predict_batch(&self, rows: &[f32]) -> Result<Vec<usize>, ModelError> {
        let proba = self.predict_proba_batch(rows)?;
        Ok(proba.chunks_exact(self.n_classes()).map(argmax).collect())
    }

    fn check_width(&self, len: usize, n_rows: usize) -> Result<(), ModelError> {
        if len != n_rows * self.n_features() {
            return Err(ModelError::input(format!(
                "expected rows of {} features, got {} values",
                self.n_features(),
                len
            )));
        }
        Ok(())
    }
}

/// Index of the largest value; the first one on ties.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use crate::forest::{Forest, Node};

    #[test]
    fn forest_output_is_the_mean_of_tree_outputs() {
        let a = vec![
            Node {
                feature: 0,
                threshold: 0.0,
                left: 1,
                missing_left: true,
                value: vec![0.5, 0.5],
            },
            Node::leaf(1, vec![1.0, 0.0]),
            Node::leaf(2, vec![0.0, 1.0]),
        ];
        let b = vec![Node::leaf(0, vec![0.25, 0.75])];
        let f = Forest::from_trees(1, 2, &[a, b]).unwrap();
        assert_eq!(f.predict_proba(&[-1.0]).unwrap(), vec![0.625, 0.375]);
        assert_eq!(f.predict_proba(&[1.0]).unwrap(), vec![0.125, 0.875]);
        let batch = f.predict_proba_batch(&[-1.0, 1.0, f32::NAN]).unwrap();
        assert_eq!(batch, vec![0.625, 0.375, 0.125, 0.875, 0.625, 0.375]);
        assert_eq!(f.predict_batch(&[-1.0, 1.0]).unwrap(), vec![0, 1]);
        assert!(f.predict_proba(&[1.0, 2.0]).is_err());
        assert!(
            f.predict_proba_batch(&[1.0, 2.0]).is_ok(),
            "two rows of one feature"
        );
    }
}
