//! The feature encoder, compiled in: the spec's vocabularies and, for a
//! basket model, its product-prior tables, as statics.
//!
//! Nothing here re-implements encoding. The tables are laid out so that
//! forest-core's own code runs over them: table rows through
//! [`runtime::encode_row`](super::runtime::encode_row), baskets through
//! [`encode_basket_with`](crate::encode::encode_basket_with) with a
//! [`StaticBasket`](super::runtime::StaticBasket). Compiled features are
//! therefore the ETL's features, bit for bit.
//!
//! Code lookups are where the encoder spends its time: a basket of 20 lines
//! looks up 100 codes. Every product-code table of [`PERFECT_HASH_MIN`]
//! codes or more gets a perfect hash ([`forest_core::compiled::phf`]): one
//! hash and one comparison, where even a binary search over a dozen codes
//! makes four string comparisons (measured on a basket of 8 lines: 2.24 us with
//! hashes everywhere, 2.59 us with binary search below 32 codes). The
//! vocabularies, a handful of values each, are scanned with inline
//! compares (forest-core's `StaticBasket::category`).

use crate::{f32_lit, list, str_lit, Emitter};
use forest_core::compiled::phf;
use forest_core::FeatureKind;
use forest_core::Model;

/// Tables with at least this many codes get a perfect hash; a lone code
/// is one comparison either way.
pub const PERFECT_HASH_MIN: usize = 2;

/// Emits `VOCABULARY_<i>` for each categorical feature `i`, `ROW_FEATURES`,
/// and `BASKET` (`None` for a table-row model).
pub(crate) fn emit(out: &mut Emitter<'_>, model: &Model) {
    let core = out.options().core_path.clone();
    let features = &model.meta.features.features;
    for (i, def) in features.iter().enumerate() {
        if let FeatureKind::Categorical { vocabulary } = &def.kind {
            out.line(&format!(
                "/// Sorted vocabulary of feature {i} ({}).\npub static VOCABULARY_{i}: [&str; {}] = [{}];",
                def.name.escape_debug(),
                vocabulary.len(),
                list(vocabulary, 8, |v| str_lit(v))
            ));
        }
    }
    let indexed: Vec<_> = features.iter().enumerate().collect();
    let rows = list(&indexed, 1, |(i, def)| match def.kind {
        FeatureKind::Numeric => format!("({}, None)", str_lit(&def.name)),
        FeatureKind::Categorical { .. } => {
            format!("({}, Some(&VOCABULARY_{i}))", str_lit(&def.name))
        }
    });
    out.line(&format!(
        "/// Name and vocabulary (`None`: numeric) of every feature, for table rows.
pub static ROW_FEATURES: [{core}::compiled::RowFeature<'static>; N_FEATURES] = [
    {rows}
];"
    ));

    let Some(priors) = &model.meta.features.basket else {
        out.line(&format!(
            "/// This model reads table rows, not baskets.
pub static BASKET: Option<{core}::compiled::StaticBasket<'static>> = None;
"
        ));
        return;
    };
    let mut levels = Vec::new();
    for (l, level) in priors.levels.iter().enumerate() {
        let n = level.codes.len();
        out.line(&format!(
            "/// Product level {l} ({:?}): codes, class counts, mean log prices.
static LEVEL_{l}_CODES: [&str; {n}] = [{}];
static LEVEL_{l}_COUNTS: [f32; {}] = [{}];
static LEVEL_{l}_LOG_PRICE: [Option<f32>; {n}] = [{}];
static LEVEL_{l}_TAGS: [f32; {}] = [{}];",
            level.level,
            list(&level.codes, 8, |c| str_lit(c)),
            level.counts.len(),
            list(&level.counts, 12, |c| f32_lit(*c)),
            list(&level.log_price, 8, |p| match p {
                Some(p) => format!("Some({})", f32_lit(*p)),
                None => "None".into(),
            }),
            level.tags.len(),
            list(&level.tags, 12, |t| f32_lit(*t)),
        ));
        let hash = match (n >= PERFECT_HASH_MIN)
            .then(|| phf::build(&level.codes))
            .flatten()
        {
            Some(t) => {
                out.line(&format!(
                    "static LEVEL_{l}_DISPLACEMENTS: [u32; {}] = [{}];
static LEVEL_{l}_SLOTS: [u32; {}] = [{}];",
                    t.displacements.len(),
                    list(&t.displacements, 16, |d| d.to_string()),
                    t.slots.len(),
                    list(&t.slots, 16, |s| s.to_string()),
                ));
                format!(
                    "Some({core}::compiled::phf::PerfectHash {{ seed: {}, displacements: &LEVEL_{l}_DISPLACEMENTS, slots: &LEVEL_{l}_SLOTS }})",
                    t.seed
                )
            }
            None => "None".into(),
        };
        levels.push(format!(
            "{core}::compiled::StaticLevel {{
            level: {core}::ProductLevel::{:?},
            codes: &LEVEL_{l}_CODES,
            counts: &LEVEL_{l}_COUNTS,
            log_price: &LEVEL_{l}_LOG_PRICE,
            tags: &LEVEL_{l}_TAGS,
            hash: {hash},
        }}",
            level.level
        ));
    }
    let cache = emit_cache(out, model);
    out.line(&format!(
        "/// The basket encoder's tables.
pub static BASKET: Option<{core}::compiled::StaticBasket<'static>> =
    Some({core}::compiled::StaticBasket {{
        vocabularies: [{vocabularies}],
        global: &[{global}],
        smoothing: {smoothing},
        global_log_price: {global_log_price},
        levels: &[
        {levels}
        ],
        tags: {tags},
        segments: &[{segments}],
        segment_likelihood: &[{segment_likelihood}],
        cache: {cache},
    }});
",
        vocabularies = (0..6)
            .map(|i| format!("&VOCABULARY_{i}"))
            .collect::<Vec<_>>()
            .join(", "),
        global = list(&priors.global, 16, |g| f32_lit(*g)),
        smoothing = f32_lit(priors.smoothing),
        global_log_price = f32_lit(priors.global_log_price),
        levels = levels.join(",\n        "),
        tags = match &priors.tags {
            Some(t) => format!(
                "Some(({}, &[{}]))",
                f32_lit(t.threshold),
                list(&t.global, 3, |g| f32_lit(*g))
            ),
            None => "None".into(),
        },
        cache = match cache {
            true => format!(
                "Some({core}::compiled::StaticCache {{ parents: &PRODUCT_PARENTS, values: &PRODUCT_CACHE }})"
            ),
            false => "None".into(),
        },
        segments = priors
            .tags
            .as_ref()
            .map_or(String::new(), |t| list(&t.segments, 8, |s| str_lit(s))),
        segment_likelihood = priors.tags.as_ref().map_or(String::new(), |t| list(
            &t.segment_likelihood,
            12,
            |l| f32_lit(*l)
        )),
    ));
}

/// Emits `PRODUCT_PARENTS` and `PRODUCT_CACHE` when the spec records the
/// products' category chains: per product, the priors
/// [`line_priors`](forest_core::line_priors) computes for a line with
/// exactly that chain, by forest-core's own encoder over the spec's tables,
/// so a cache hit gives the bits a miss would compute. Returns whether it
/// emitted them.
fn emit_cache(out: &mut Emitter<'_>, model: &Model) -> bool {
    let spec = &model.meta.features;
    let (Some(values), Some(products)) = (
        forest_core::compiled::product_cache(spec),
        spec.basket.as_ref().and_then(|p| p.levels.last()),
    ) else {
        return false;
    };
    let parents = out.int_blob(
        products.parents.iter().copied(),
        u32::to_le_bytes,
        u32::to_be_bytes,
    );
    out.blob_array(
        "PRODUCT_PARENTS",
        "Per product, its recorded codes at the four levels above, as indices (u32::MAX: none).",
        "u32",
        products.parents.len(),
        parents,
    );
    let count = values.len();
    let bits = out.int_blob(
        values.into_iter().map(f64::to_bits),
        u64::to_le_bytes,
        u64::to_be_bytes,
    );
    out.blob_array(
        "PRODUCT_CACHE",
        "Per product, the priors of a line with its recorded chain: product prior, department prior, reference log price.",
        "f64",
        count,
        bits,
    );
    true
}
