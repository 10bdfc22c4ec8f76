//! The feature spec: how named input values become the model's feature
//! vector. It travels inside the artifact, so the trainer and every serving
//! engine encode inputs with the same code and the same vocabularies.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// The ordered list of features a model reads. Feature `i` of the vector is
/// computed from `features[i]`: from a table column of that name, or, for a
/// basket model (`basket` is set), by the basket encoder of
/// [`crate::FeatureSpec::encode_basket`] with the fitted priors it carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// The features, in vector order.
    pub features: Vec<FeatureDef>,
    /// A basket model's fitted encoder tables; `None` for a table-row model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basket: Option<crate::priors::BasketPriors>,
}

/// One input column and how it is encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDef {
    /// The column (or basket feature) name.
    pub name: String,
    /// How its text becomes a number.
    #[serde(flatten)]
    pub kind: FeatureKind,
}

/// How a raw text value becomes one `f32`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeatureKind {
    /// A number. Missing values become NaN; `inf` and `-inf` are ordinary,
    /// extreme values.
    Numeric,
    /// A code from a closed vocabulary, kept sorted so that lookups are a
    /// binary search and the spec serialises the same way every time.
    /// Known value `v` encodes as its index; a value the vocabulary does not
    /// hold encodes as `vocabulary.len()` (the "unseen" code, which every
    /// split puts beside the largest known codes); missing encodes as NaN.
    Categorical {
        /// The known values, sorted and distinct.
        vocabulary: Vec<String>,
    },
}

/// The spellings of "no value" in text input. Anything else is a value.
pub const MISSING_TOKENS: [&str; 5] = ["", "NA", "NaN", "nan", "null"];

/// Whether a raw text value stands for a missing value.
pub fn is_missing(raw: &str) -> bool {
    is_missing_trimmed(trim(raw))
}

/// [`is_missing`] for a value already trimmed.
#[inline]
pub fn is_missing_trimmed(trimmed: &str) -> bool {
    // The tokens are at most 4 bytes: longer values need no comparison.
    trimmed.len() <= 4 && MISSING_TOKENS.contains(&trimmed)
}

/// `str::trim`, with a shortcut for the usual case: a value that starts
/// and ends with an ASCII letter or digit has no whitespace to trim, so it
/// is returned as it is without the Unicode scan (the same result).
#[inline]
pub fn trim(raw: &str) -> &str {
    let b = raw.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() => raw,
        _ => raw.trim(),
    }
}

impl FeatureDef {
    /// A numeric feature.
    pub fn numeric(name: impl Into<String>) -> Self {
        FeatureDef {
            name: name.into(),
            kind: FeatureKind::Numeric,
        }
    }

    /// A categorical feature over the given values (sorted and deduplicated
    /// here, so callers may pass them in any order).
    pub fn categorical(name: impl Into<String>, values: impl IntoIterator<Item = String>) -> Self {
        let mut vocabulary: Vec<String> = values.into_iter().collect();
        vocabulary.sort_unstable();
        vocabulary.dedup();
        FeatureDef {
            name: name.into(),
            kind: FeatureKind::Categorical { vocabulary },
        }
    }

    /// Encodes one raw value. Fails only for a numeric feature given text
    /// that is neither a number nor a missing token.
    pub fn encode(&self, raw: &str) -> Result<f32, ModelError> {
        let vocabulary = match &self.kind {
            FeatureKind::Numeric => None,
            FeatureKind::Categorical { vocabulary } => Some(vocabulary.as_slice()),
        };
        encode_value(&self.name, vocabulary, raw)
    }
}

/// Encodes one raw value of the feature `name`: a number when `vocabulary`
/// is `None`, else a category code. Shared by [`FeatureDef::encode`] and
/// compiled models, whose vocabularies are static `&str` arrays.
pub fn encode_value<S: AsRef<str>>(
    name: &str,
    vocabulary: Option<&[S]>,
    raw: &str,
) -> Result<f32, ModelError> {
    if is_missing(raw) {
        return Ok(f32::NAN);
    }
    let raw = raw.trim();
    match vocabulary {
        None => parse_number(raw)
            .ok_or_else(|| ModelError::field(name, format!("'{}' is not a number", shorten(raw)))),
        Some(vocabulary) => Ok(category_code(vocabulary, raw)),
    }
}

/// Vocabularies up to this size are scanned rather than searched.
const SCAN_VOCABULARY: usize = 16;

/// The code of `raw` in a sorted vocabulary of distinct values, or the
/// unseen code. A basket field's vocabulary is a handful of short words:
/// scanning it with inline word compares beats a binary search that calls
/// memcmp at every step (compiled basket features 7-10% faster), and finds
/// the same index.
pub fn category_code<S: AsRef<str>>(vocabulary: &[S], raw: &str) -> f32 {
    if vocabulary.len() <= SCAN_VOCABULARY {
        let at = vocabulary
            .iter()
            .position(|v| crate::compiled::phf::same_bytes(v.as_ref().as_bytes(), raw.as_bytes()));
        return at.unwrap_or(vocabulary.len()) as f32;
    }
    match vocabulary.binary_search_by(|v| v.as_ref().cmp(raw)) {
        Ok(i) => i as f32,
        Err(_) => vocabulary.len() as f32,
    }
}

/// Parses a decimal number as f64 first, then rounds once to f32, so that
/// `"0.1"` gives the same `f32` whichever tool wrote the file.
pub fn parse_number(raw: &str) -> Option<f32> {
    raw.parse::<f64>().ok().map(|v| v as f32)
}

/// Cuts a value for an error message: a 10 MB field should not become a
/// 10 MB log line. [`shorten_to`] with 60 bytes.
pub fn shorten(raw: &str) -> String {
    shorten_to(raw, 60)
}

/// `raw` when it is at most `max` bytes long, else its first `max` bytes (at
/// a character boundary) with its length: `"abc... (12 bytes)"`.
pub fn shorten_to(raw: &str, max: usize) -> String {
    if raw.len() <= max {
        return raw.to_string();
    }
    let mut end = max;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &raw[..end], raw.len())
}

impl FeatureSpec {
    /// The number of features.
    pub fn len(&self) -> usize {
        self.features.len()
    }

    /// Whether there are no features.
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// The feature names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(|f| f.name.as_str())
    }

    /// Encodes one row given as raw values in spec order.
    pub fn encode_row<'a>(
        &self,
        raw: impl IntoIterator<Item = &'a str>,
        out: &mut Vec<f32>,
    ) -> Result<(), ModelError> {
        out.clear();
        for (def, value) in self.features.iter().zip(raw) {
            out.push(def.encode(value)?);
        }
        if out.len() != self.features.len() {
            return Err(ModelError::input(format!(
                "expected {} values, got {}",
                self.features.len(),
                out.len()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The shortcut trim is `str::trim` on any text: ASCII and Unicode
        /// whitespace (no-break space, ideographic space, line separators,
        /// NEL) and other characters at either end.
        #[test]
        fn trim_is_str_trim(
            text in "[ \t\r\na-z0-9.+\u{a0}\u{3000}\u{2028}\u{85}\u{feff}é]{0,6}"
        ) {
            proptest::prop_assert_eq!(trim(&text), text.trim());
        }
    }

    #[test]
    fn scanned_and_searched_vocabularies_give_the_search_index() {
        for size in [0, 1, 5, SCAN_VOCABULARY, SCAN_VOCABULARY + 1, 40] {
            let vocabulary: Vec<String> = (0..size).map(|i| format!("V{i:03}")).collect();
            for raw in vocabulary
                .iter()
                .map(String::as_str)
                .chain(["", "V", "V0000", "v001"])
            {
                let want = vocabulary
                    .binary_search_by(|v| v.as_str().cmp(raw))
                    .map_or(size, |i| i) as f32;
                assert_eq!(category_code(&vocabulary, raw), want, "{size} {raw:?}");
            }
        }
    }

    #[test]
    fn encodes_numbers_categories_and_gaps() {
        let num = FeatureDef::numeric("spend");
        assert_eq!(num.encode(" 2.5 ").unwrap(), 2.5);
        assert_eq!(num.encode("-inf").unwrap(), f32::NEG_INFINITY);
        assert!(num.encode("").unwrap().is_nan());
        assert!(num.encode("NA").unwrap().is_nan());
        let err = num.encode("abc").unwrap_err().to_string();
        assert!(err.contains("spend") && err.contains("abc"), "{err}");

        let cat = FeatureDef::categorical("region", ["W01", "E02", "E02"].map(String::from));
        assert_eq!(cat.encode("E02").unwrap(), 0.0);
        assert_eq!(cat.encode("W01").unwrap(), 1.0);
        assert_eq!(
            cat.encode("N03").unwrap(),
            2.0,
            "unseen code is the vocabulary size"
        );
        assert!(cat.encode("").unwrap().is_nan());
    }

    #[test]
    fn long_values_are_shortened_in_errors() {
        let huge = "x".repeat(10_000_000);
        let err = FeatureDef::numeric("f")
            .encode(&huge)
            .unwrap_err()
            .to_string();
        assert!(err.len() < 200, "{}", err.len());
    }

    #[test]
    fn spec_serialises_with_a_type_tag() {
        let spec = FeatureSpec {
            features: vec![
                FeatureDef::numeric("a"),
                FeatureDef::categorical("b", ["y".to_string(), "x".to_string()]),
            ],
            basket: None,
        };
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(
            json,
            r#"{"features":[{"name":"a","type":"numeric"},{"name":"b","type":"categorical","vocabulary":["x","y"]}]}"#
        );
        assert_eq!(serde_json::from_str::<FeatureSpec>(&json).unwrap(), spec);
    }
}
