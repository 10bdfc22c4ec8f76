//! The latent product-tag model: how a basket's label is made, as far as
//! the data shows it, and the features it gives a basket.
//!
//! On the real week the basket label is almost a function of the basket's
//! lines: give every product a hidden tag, LA = -1, MM = 0 or UM = +1, sum
//! the tags over the basket's lines (a product on two lines counts twice)
//! and the basket is
//!
//! ```text
//! UM  when  sum >  θ · lines
//! LA  when  sum < -θ · lines
//! MM  otherwise
//! ```
//!
//! with θ about 0.21 (tags exist that satisfy this for 98.5% of the
//! training baskets). The tags are not in the data. The ETL infers them from
//! the training baskets (a Gibbs sampler, `forest-train`'s `etl::tags`), and
//! the spec carries what serving needs: θ ([`TagModel::threshold`]) and,
//! per product code and per category at every level of the hierarchy, a
//! distribution over the three tags (`PriorLevel::tags`). A line takes the
//! distribution of its finest known code: the product's own posterior when
//! training saw the product, else its category's, else [`TagModel::global`].
//!
//! With the tags of different products independent, the basket's tag sum
//! has an exact distribution ([`sum_distribution`]): a convolution over its
//! distinct products, each shifting the sum by its line count times its
//! tag. The rule turns that distribution into class probabilities, which,
//! with the expected lean and the model's confidence, are features of the
//! forest ([`TAG_FIELDS`]): the forest then weighs them against the rest
//! (customer segment, store, product priors).
//!
//! The tags are ordinal: the model needs exactly three classes, the first
//! the -1 end (LA), the last the +1 end (UM).

use serde::{Deserialize, Serialize};

/// The basket-wide part of a fitted tag model; the per-code distributions
/// are in the spec's prior levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagModel {
    /// θ of the rule, in (0, 1).
    pub threshold: f32,
    /// The tag distribution of a line whose codes the model never saw: the
    /// mean posterior over all training products. Three numbers (-1, 0, +1).
    pub global: Vec<f32>,
    /// The customer segments (`customer_price_sensitivity` values) the
    /// model has evidence from, and for each, three numbers: how likely a
    /// shopper of that segment buys a product of each tag (relative, with
    /// the fit's weight applied). A basket of a known shopper multiplies
    /// each line's tag distribution by its segment's row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<String>,
    /// `segments.len() * 3` positive numbers, one row per segment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segment_likelihood: Vec<f32>,
}

/// Tags per product: -1, 0 and +1, in class order.
pub const N_TAGS: usize = 3;

/// The tag features, after the prior families: first `tag_prob_<class>`
/// for each class (the probability the rule gives the class), then these.
pub const TAG_FIELDS: [&str; 4] = [
    // Expected lean: E[sum] / lines.
    "tag_lean",
    // Its standard deviation: how unsure the tags leave the lean.
    "tag_lean_sd",
    // Mean over lines of the most probable tag's probability.
    "tag_confidence",
    // Share of lines whose product the tag model saw in training.
    "tag_seen",
];

/// Summaries over lines of the product-level prior's lean (its last class
/// minus its first, UM minus LA, relative to the global prior's), after the
/// tag features.
pub const LEAN_FIELDS: [&str; 5] = [
    "lean_min",
    "lean_max",
    "lean_sd",
    // Share of lines leaning to the last class (UM) more than the global
    // prior does, and to the first (LA).
    "lean_positive",
    "lean_negative",
];

/// The rule's bound for a basket of `lines` lines: the basket is the last
/// class when its tag sum is above the bound, the first when below minus
/// the bound. For an integer sum, `sum > θ·lines` is `sum > floor(θ·lines)`,
/// so training and serving compare integers and agree exactly.
#[inline]
pub fn rule_bound(threshold: f32, lines: usize) -> i64 {
    (f64::from(threshold) * lines as f64).floor() as i64
}

/// The class (0, 1 or 2) the rule gives a tag sum.
#[inline]
pub fn rule_class(sum: i64, bound: i64) -> usize {
    if sum > bound {
        2
    } else if sum < -bound {
        0
    } else {
        1
    }
}

/// How many numbers [`sum_distribution`] needs as scratch for a basket of
/// `lines` lines: two buffers of the `2 * lines + 1` sums, each with room
/// for a shift of up to `lines` on either side.
pub const fn sum_scratch_len(lines: usize) -> usize {
    2 * (4 * lines + 1)
}

/// The distribution of a basket's tag sum, for products given as
/// `(tag distribution, lines)`; `lines` is the basket's line count, at
/// least the sum of the products' lines (a larger sum panics). `scratch` must hold at least
/// [`sum_scratch_len`]`(lines)` numbers; the returned slice, `2 * lines + 1` long
/// and inside `scratch`, holds at `s + lines` the probability of sum `s`.
/// Products are convolved in the order given, in f64, so the result is the
/// same wherever it is computed.
///
/// Each new sum is computed in one pass, as
/// `((0 + q[0] p[s + c]) + q[1] p[s]) + q[2] p[s - c]`, reading sums not
/// reached yet as zeros from the margins: for tag probabilities (finite,
/// not negative) adding such a zero term changes nothing, so this gives
/// the same bits as adding only the terms that exist, shift by shift, in
/// that order (a property test holds it to that first form).
pub fn sum_distribution(
    products: impl IntoIterator<Item = ([f64; N_TAGS], usize)>,
    lines: usize,
    scratch: &mut [f64],
) -> &[f64] {
    // Sum s sits at index `centre + s`; the margins keep every shifted read
    // inside the buffer: reached sums lie within [-lines, lines] and a
    // shift is at most the lines not yet added.
    let span = 4 * lines + 1;
    let centre = 2 * lines;
    let (mut cur, mut next) = scratch[..2 * span].split_at_mut(span);
    cur.fill(0.0);
    next.fill(0.0);
    cur[centre] = 1.0;
    let (mut lo, mut hi) = (centre, centre);
    for (q, c) in products {
        if c == 0 {
            continue;
        }
        let (new_lo, new_hi) = (lo - c, hi + c);
        let above = &cur[new_lo + c..=new_hi + c];
        let here = &cur[new_lo..=new_hi];
        let below = &cur[new_lo - c..=new_hi - c];
        for (((n, &a), &h), &b) in next[new_lo..=new_hi]
            .iter_mut()
            .zip(above)
            .zip(here)
            .zip(below)
        {
            *n = 0.0 + q[0] * a + q[1] * h + q[2] * b;
        }
        std::mem::swap(&mut cur, &mut next);
        lo = new_lo;
        hi = new_hi;
    }
    &cur[lines..lines + 2 * lines + 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The convolution as first written: only the terms that exist, added
    /// shift by shift, over `2 * (2 * lines + 1)` numbers of zeroed
    /// scratch. [`sum_distribution`] must give its bits.
    fn reference_sum_distribution(
        products: impl IntoIterator<Item = ([f64; N_TAGS], usize)>,
        lines: usize,
        scratch: &mut [f64],
    ) -> &[f64] {
        let width = 2 * lines + 1;
        let (mut cur, mut next) = scratch[..2 * width].split_at_mut(width);
        cur.fill(0.0);
        cur[lines] = 1.0;
        // The sums reached so far lie in [lo, hi] (offsets into the buffers).
        let (mut lo, mut hi) = (lines, lines);
        for (q, c) in products {
            if c == 0 {
                continue;
            }
            // The lines' shifts add up to at most `lines`, so the reached sums
            // stay inside [-lines, lines]: both shifted ranges fit the buffer.
            let (new_lo, new_hi) = (lo - c, hi + c);
            next[new_lo..=new_hi].fill(0.0);
            let old = &cur[lo..=hi];
            for (n, &p) in next[new_lo..=hi - c].iter_mut().zip(old) {
                *n += q[0] * p;
            }
            for (n, &p) in next[lo..=hi].iter_mut().zip(old) {
                *n += q[1] * p;
            }
            for (n, &p) in next[lo + c..=new_hi].iter_mut().zip(old) {
                *n += q[2] * p;
            }
            cur[lo..=hi].fill(0.0);
            std::mem::swap(&mut cur, &mut next);
            lo = new_lo;
            hi = new_hi;
        }
        cur
    }

    #[test]
    fn bounds_compare_integers_like_the_real_rule() {
        // 5 lines, θ = 0.21: 1.05 -> bound 1; sum 1 (m = 0.2) is MM, 2 is UM.
        let b = rule_bound(0.21, 5);
        assert_eq!(b, 1);
        assert_eq!(rule_class(1, b), 1);
        assert_eq!(rule_class(2, b), 2);
        assert_eq!(rule_class(-2, b), 0);
        // 1 line: bound 0; any tag decides the class.
        assert_eq!(rule_class(1, rule_bound(0.21, 1)), 2);
        assert_eq!(rule_class(0, rule_bound(0.21, 1)), 1);
    }

    proptest! {
        /// The one-pass convolution gives the first form's bits, for tag
        /// distributions as the encoder makes them (normalised, zeros
        /// included) and products of several lines.
        #[test]
        fn one_pass_gives_the_bits_of_the_first_form(
            products in proptest::collection::vec(
                (proptest::array::uniform3(prop_oneof![Just(0.0f64), 0.0f64..1.0]), 0usize..4),
                0..12,
            ),
            extra in 0usize..3,
        ) {
            let products: Vec<([f64; N_TAGS], usize)> = products
                .into_iter()
                .map(|(q, c)| {
                    let z: f64 = q.iter().sum();
                    (if z > 0.0 { q.map(|v| v / z) } else { q }, c)
                })
                .collect();
            let lines = products.iter().map(|p| p.1).sum::<usize>() + extra;
            let mut fast = vec![f64::NAN; sum_scratch_len(lines)];
            // The first form needs zeroed scratch (as the encoder gives it);
            // the one-pass form must not.
            let mut first = vec![0.0; 2 * (2 * lines + 1)];
            let got = sum_distribution(products.iter().copied(), lines, &mut fast);
            let want = reference_sum_distribution(products.iter().copied(), lines, &mut first);
            prop_assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(want) {
                prop_assert_eq!(g.to_bits(), w.to_bits());
            }
        }
    }

    #[test]
    fn the_sum_distribution_is_the_convolution() {
        let mut scratch = vec![0.0; sum_scratch_len(4)];
        // Two products: one certain UM on two lines, one 50/50 LA/MM; four lines.
        let d = sum_distribution(
            [([0.0, 0.0, 1.0], 2), ([0.5, 0.5, 0.0], 1)],
            4,
            &mut scratch,
        );
        assert_eq!(d.len(), 9);
        let mut expected = [0.0; 9];
        expected[4 + 1] = 0.5; // 2 - 1
        expected[4 + 2] = 0.5; // 2 + 0
        assert_eq!(d, expected);
        // Brute force over three uncertain products.
        let qs = [[0.2, 0.3, 0.5], [0.6, 0.1, 0.3], [0.25, 0.5, 0.25]];
        let cs = [1usize, 3, 2];
        let mut scratch = vec![0.0; sum_scratch_len(6)];
        let d = sum_distribution(qs.iter().copied().zip(cs), 6, &mut scratch).to_vec();
        let mut brute = [0.0f64; 13];
        for a in 0..3 {
            for b in 0..3 {
                for c in 0..3 {
                    let s = (a as i64 - 1) + (b as i64 - 1) * 3 + (c as i64 - 1) * 2;
                    brute[(s + 6) as usize] += qs[0][a] * qs[1][b] * qs[2][c];
                }
            }
        }
        for (x, y) in d.iter().zip(brute) {
            assert!((x - y).abs() < 1e-12, "{d:?} {brute:?}");
        }
    }
}
