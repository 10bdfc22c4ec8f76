//! The draws the world and the weeks are made of, each from a
//! [`ChaCha8Rng`] passed in, so that a seed and a stream fix every value.
//! Each is a few lines written out by hand, so what a seed produces is
//! fixed by this code and the generator alone.

use std::collections::BTreeSet;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A discrete distribution by cumulative weights.
#[derive(Clone, Debug)]
pub(super) struct Categorical {
    cum: Vec<f64>,
}

impl Categorical {
    pub(super) fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut acc = 0.0;
        let cum: Vec<f64> = weights
            .into_iter()
            .map(|w| {
                acc += w.max(0.0);
                acc
            })
            .collect();
        assert!(
            acc > 0.0,
            "a categorical distribution needs positive weight"
        );
        Categorical { cum }
    }

    pub(super) fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = *self.cum.last().expect("non-empty");
        let u = rng.random::<f64>() * total;
        self.cum
            .partition_point(|&c| c <= u)
            .min(self.cum.len() - 1)
    }
}

pub(super) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box-Muller; 1 - u keeps the logarithm finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `k` distinct values of `lo..=hi`, sorted (Floyd's algorithm).
pub(super) fn sample_distinct(rng: &mut ChaCha8Rng, k: usize, lo: u32, hi: u32) -> Vec<u32> {
    let n = hi - lo + 1;
    assert!(k as u32 <= n);
    let mut set = BTreeSet::new();
    for j in n - k as u32..n {
        let t = rng.random_range(0..=j);
        if !set.insert(t) {
            set.insert(j);
        }
    }
    set.into_iter().map(|v| v + lo).collect()
}

/// Parents of `n_children` nodes over `n_parents`, every parent with at
/// least one child, children numbered in parent order (as the real codes
/// are: `CL00001` under `DEP00001` under `G00001` under `D00001`).
pub(super) fn level_parents(
    rng: &mut ChaCha8Rng,
    n_children: usize,
    n_parents: usize,
) -> Vec<usize> {
    let mut counts = vec![1usize; n_parents];
    for _ in n_parents..n_children {
        counts[rng.random_range(0..n_parents)] += 1;
    }
    counts
        .iter()
        .enumerate()
        .flat_map(|(p, &c)| std::iter::repeat_n(p, c))
        .collect()
}

pub(super) fn shuffle<T>(rng: &mut ChaCha8Rng, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        v.swap(i, rng.random_range(0..=i));
    }
}

/// `p` tilted by `a`: `p[k] * exp(a * (k - 1))`, normalised.
pub(super) fn tilt(p: [f64; 3], a: f64) -> [f64; 3] {
    let mut q = [p[0] * (-a).exp(), p[1], p[2] * a.exp()];
    let s: f64 = q.iter().sum();
    q.iter_mut().for_each(|x| *x /= s);
    q
}
