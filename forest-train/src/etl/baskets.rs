//! From lines to baskets: the basket key, the label, and the `Basket` the
//! encoder reads.
//!
//! The basket key is `BASKET_ID` when that column identifies baskets. In the
//! shared copy of the real data it does not: a spreadsheet export flattened
//! every id to `9.94E+14`. So, per shop week, when the ids are written in
//! floating-point notation or a single id covers the whole week, the key
//! falls back to a composite of what does tell baskets apart:
//! customer (or `anonymous`), store, date, hour and the basket's own
//! attributes (type, size and dominant mission: one basket has one of
//! each, so lines that differ in them are two baskets; on the real week
//! they tell 13 more baskets apart, most of them anonymous shoppers').

use std::borrow::Cow;

use foldhash::{HashMap, HashMapExt};

use forest_core::{set_optional_text, set_text, Basket, Item, ProductLevel};

use super::lines::{Line, Lines};
use super::raw::{parse_raw, Reject};

/// How a week's baskets are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// `BASKET_ID` tells the week's baskets apart; keys are `id:<BASKET_ID>`.
    BasketId,
    /// The ids do not (written as floats, or one id for the whole week); keys
    /// are `c:` and the customer, store, date, hour, type, size and mission.
    Composite,
}

/// Decides the key for one shop week's lines.
pub fn key_kind(lines: &Lines) -> KeyKind {
    if lines.is_empty() {
        return KeyKind::BasketId;
    }
    let ids = (0..lines.len()).map(|i| lines.basket_id(i));
    let first = lines.basket_id(0);
    // Byte by byte: `str::contains` with a set of chars walks characters.
    let float_notation = |id: &str| id.bytes().any(|b| matches!(b, b'E' | b'e' | b'.'));
    let one_id = ids.clone().all(|id| id == first);
    if (one_id && lines.len() > 1) || ids.clone().any(float_notation) {
        KeyKind::Composite
    } else {
        KeyKind::BasketId
    }
}

/// The key of a line's basket.
pub fn basket_key(line: &Line<'_>, kind: KeyKind) -> String {
    match kind {
        KeyKind::BasketId => id_key(line.basket_id),
        KeyKind::Composite => format!(
            "c:{}|{}|{}|{}|{}|{}|{}",
            line.cust_code.unwrap_or("anonymous"),
            line.store_code,
            line.shop_date,
            line.shop_hour,
            line.basket_type,
            line.basket_size,
            line.basket_dominant_mission
        ),
    }
}

/// The key of a basket told apart by its id.
fn id_key(basket_id: &str) -> String {
    format!("id:{basket_id}")
}

/// A basket with its key, week and label.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledBasket {
    /// The basket key (see [`basket_key`]), unique within the week.
    pub key: String,
    /// The shop week, `YYYYWW`.
    pub shop_week: i32,
    /// The label most of its lines carry (ties: the first line's).
    pub label: String,
    /// Whether its lines disagreed on the label (possible with a composite
    /// key that merges two baskets).
    pub label_conflict: bool,
    /// The basket as the feature encoder reads it: its attributes and one
    /// item per line.
    pub basket: Basket,
}

/// The baskets of one raw weekly file (`file` names it in errors), sorted
/// by key, and the lines that did not parse, with their reasons.
pub fn baskets_of_file(file: &str, bytes: &[u8]) -> (Vec<LabelledBasket>, Vec<Reject>) {
    let parsed = parse_raw(file, bytes);
    let kind = key_kind(&parsed.lines);
    let baskets = assemble(&parsed.lines, kind);
    let mut rejects = parsed.problems;
    rejects.extend(parsed.rejects);
    (baskets, rejects)
}

/// One basket of a week's table: its key and its lines' rows, in source
/// order.
#[derive(Debug, Clone, PartialEq)]
pub struct BasketRows {
    /// The basket key (see [`basket_key`]), unique within the week.
    pub key: String,
    /// The basket's rows in the week's [`Lines`], first line first.
    pub rows: Vec<usize>,
}

impl BasketRows {
    /// The label most of the basket's lines carry (ties: the first
    /// line's), and whether its lines disagree on it (possible with a
    /// composite key that merges two baskets).
    pub fn label<'l>(&self, lines: &'l Lines) -> (&'l str, bool) {
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for &row in &self.rows {
            let label = lines.label(row);
            match counts.iter_mut().find(|(s, _)| *s == label) {
                Some((_, n)) => *n += 1,
                None => counts.push((label, 1)),
            }
        }
        // Stable: among equal counts the first seen (the first line's) wins.
        let best = counts
            .iter()
            .fold(counts[0], |b, c| if c.1 > b.1 { *c } else { b });
        (best.0, counts.len() > 1)
    }

    /// This basket as pass 1 counts it, read from `lines` in place.
    pub fn counted<'a>(&'a self, lines: &'a Lines) -> CountedRows<'a> {
        CountedRows { rows: self, lines }
    }

    /// Makes `basket` this basket, as the encoder reads it: attributes from
    /// the first line, one item per line. Its strings and items are
    /// overwritten, not reallocated, so one basket can be filled over a
    /// whole week.
    pub fn fill(&self, lines: &Lines, basket: &mut Basket) {
        let first = lines.get(self.rows[0]);
        set_text(&mut basket.store_format, first.store_format);
        set_text(&mut basket.store_region, first.store_region);
        set_text(&mut basket.basket_size, first.basket_size);
        set_text(&mut basket.basket_type, first.basket_type);
        set_text(&mut basket.dominant_mission, first.basket_dominant_mission);
        set_optional_text(
            &mut basket.customer_price_sensitivity,
            first.cust_price_sensitivity,
        );
        basket.items.truncate(self.rows.len());
        basket.items.resize_with(self.rows.len(), Item::default);
        for (item, &row) in basket.items.iter_mut().zip(&self.rows) {
            let line = lines.bought(row);
            set_text(&mut item.prod_code, line.prod_code);
            set_text(&mut item.prod_code_10, line.prod_code_10);
            set_text(&mut item.prod_code_20, line.prod_code_20);
            set_text(&mut item.prod_code_30, line.prod_code_30);
            set_optional_text(&mut item.prod_code_40, line.prod_code_40);
            item.quantity = f64::from(line.quantity);
            item.spend = line.spend;
        }
    }
}

/// What the tables fitted in pass 1 (the priors, the tag model's data)
/// read of a training basket: its categorical fields and, line by line,
/// its product codes and price. A filled [`Basket`] gives it, and so does
/// a basket's rows in the week's columns ([`BasketRows::counted`]), which
/// is how pass 1 counts: straight from silver's columns, without copying
/// a basket's text into a `Basket` first.
pub trait Counted {
    /// The categorical fields in [`forest_core::CATEGORICAL_FIELDS`] order:
    /// store format and region, basket size, type and dominant mission, and
    /// the customer's segment (`None` when the shopper is unknown).
    fn fields(&self) -> [Option<&str>; 6];
    /// The basket's lines.
    fn lines(&self) -> impl Iterator<Item = CountedLine<'_>>;
    /// How many lines it has.
    fn line_count(&self) -> usize;
}

/// Where the product itself is in [`ProductLevel::CHAIN`].
pub const PRODUCT: usize = 4;

/// One line of a [`Counted`] basket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CountedLine<'a> {
    /// The product codes as written, in [`ProductLevel::CHAIN`] order
    /// (`PROD_CODE_40` first, empty when absent).
    ///
    /// [`ProductLevel::CHAIN`]: forest_core::ProductLevel::CHAIN
    pub codes: [&'a str; 5],
    /// `QUANTITY`.
    pub quantity: f64,
    /// `SPEND`.
    pub spend: f64,
}

impl<'a> CountedLine<'a> {
    /// The code at `level` (an index into [`ProductLevel::CHAIN`]) as
    /// [`ProductLevel::code`] reads it from an item: trimmed, `None` when
    /// missing.
    ///
    /// [`ProductLevel::CHAIN`]: forest_core::ProductLevel::CHAIN
    /// [`ProductLevel::code`]: forest_core::ProductLevel::code
    pub fn code(&self, level: usize) -> Option<&'a str> {
        ProductLevel::clean(self.codes[level])
    }
}

impl Counted for Basket {
    fn fields(&self) -> [Option<&str>; 6] {
        [
            Some(&self.store_format),
            Some(&self.store_region),
            Some(&self.basket_size),
            Some(&self.basket_type),
            Some(&self.dominant_mission),
            self.customer_price_sensitivity.as_deref(),
        ]
    }

    fn lines(&self) -> impl Iterator<Item = CountedLine<'_>> {
        self.items.iter().map(|item| CountedLine {
            codes: [
                item.prod_code_40.as_deref().unwrap_or(""),
                &item.prod_code_30,
                &item.prod_code_20,
                &item.prod_code_10,
                &item.prod_code,
            ],
            quantity: item.quantity,
            spend: item.spend,
        })
    }

    fn line_count(&self) -> usize {
        self.items.len()
    }
}

/// A basket's rows in its week's columns, read as [`Counted`]: what
/// [`BasketRows::fill`] would put in a [`Basket`], borrowed instead.
#[derive(Debug, Clone, Copy)]
pub struct CountedRows<'a> {
    rows: &'a BasketRows,
    lines: &'a Lines,
}

impl Counted for CountedRows<'_> {
    fn fields(&self) -> [Option<&str>; 6] {
        let first = self.lines.get(self.rows.rows[0]);
        [
            Some(first.store_format),
            Some(first.store_region),
            Some(first.basket_size),
            Some(first.basket_type),
            Some(first.basket_dominant_mission),
            first.cust_price_sensitivity,
        ]
    }

    fn lines(&self) -> impl Iterator<Item = CountedLine<'_>> {
        self.rows.rows.iter().map(|&row| {
            let line = self.lines.bought(row);
            CountedLine {
                codes: [
                    line.prod_code_40.unwrap_or(""),
                    line.prod_code_30,
                    line.prod_code_20,
                    line.prod_code_10,
                    line.prod_code,
                ],
                quantity: f64::from(line.quantity),
                spend: line.spend,
            }
        })
    }

    fn line_count(&self) -> usize {
        self.rows.rows.len()
    }
}

/// Groups one week's lines, in source order (see [`Lines::join_files`]),
/// into baskets, sorted by key.
pub fn group(lines: &Lines, kind: KeyKind) -> Vec<BasketRows> {
    // Lines are grouped by what their key is written from: the id itself,
    // borrowed, when ids tell baskets apart (`id:<id>` is one-to-one with
    // the id), so that key is written once a basket, not once a line.
    let mut index: HashMap<Cow<str>, usize> = HashMap::new();
    let mut groups: Vec<BasketRows> = Vec::new();
    for row in 0..lines.len() {
        let identity = match kind {
            KeyKind::BasketId => Cow::Borrowed(lines.basket_id(row)),
            KeyKind::Composite => Cow::Owned(basket_key(&lines.get(row), kind)),
        };
        match index.get(identity.as_ref()) {
            Some(&i) => groups[i].rows.push(row),
            None => {
                // The key from what was read already: the id, or the
                // composite key itself (not the whole line read again).
                let key = match kind {
                    KeyKind::BasketId => id_key(&identity),
                    KeyKind::Composite => identity.to_string(),
                };
                index.insert(identity, groups.len());
                // Room for a basket's usual lines (the real week has 6.6 on
                // average) without growing.
                let mut rows = Vec::with_capacity(16);
                rows.push(row);
                groups.push(BasketRows { key, rows });
            }
        }
    }
    groups.sort_by(|a, b| a.key.cmp(&b.key));
    groups
}

/// Groups one week's lines, in source order (see [`Lines::join_files`]),
/// into baskets, sorted by key, each with its label and its own
/// [`Basket`] (the ETL's passes fill one basket at a time instead:
/// [`BasketRows::fill`]).
pub fn assemble(lines: &Lines, kind: KeyKind) -> Vec<LabelledBasket> {
    group(lines, kind)
        .into_iter()
        .map(|group| {
            let (label, label_conflict) = group.label(lines);
            let mut basket = Basket::default();
            group.fill(lines, &mut basket);
            LabelledBasket {
                shop_week: lines.get(group.rows[0]).shop_week,
                label: label.to_string(),
                label_conflict,
                basket,
                key: group.key,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(id: &'a str, cust: Option<&'a str>, hour: i32, label: &'a str) -> Line<'a> {
        Line {
            shop_hour: hour,
            cust_code: cust,
            basket_id: id,
            basket_price_sensitivity: label,
            ..crate::etl::lines::sample_line()
        }
    }

    #[test]
    fn flattened_ids_fall_back_to_the_composite_key() {
        let rows = [
            line("9.94E+14", Some("C1"), 10, "LA"),
            line("9.94E+14", Some("C1"), 10, "LA"),
            line("9.94E+14", None, 10, "MM"),
            line("9.94E+14", Some("C1"), 11, "UM"),
        ];
        let lines: Lines = rows.into_iter().collect();
        assert_eq!(key_kind(&lines), KeyKind::Composite);
        let baskets = assemble(&lines, KeyKind::Composite);
        assert_eq!(baskets.len(), 3);
        assert_eq!(baskets[0].key, "c:C1|STORE1|20060413|10|Top Up|S|Fresh");
        assert_eq!(baskets[0].basket.items.len(), 2);
        // A line of another size or mission is another basket.
        let mut other = line("9.94E+14", Some("C1"), 10, "LA");
        other.basket_dominant_mission = "Grocery";
        let split = assemble(&[rows[0], other].into_iter().collect(), KeyKind::Composite);
        assert_eq!(split.len(), 2);
        assert!(baskets.iter().any(|b| b.key.starts_with("c:anonymous|")));
    }

    /// A basket filled over and over (larger, smaller, with and without
    /// optional fields) ends up as a basket filled once, and pass 1, which
    /// counts a basket's rows where they are, reads what the filled basket
    /// holds.
    #[test]
    fn a_reused_basket_fills_like_a_fresh_one_and_counts_like_its_rows() {
        let rows = [
            Line {
                prod_code_40: Some("D1"),
                cust_price_sensitivity: Some("LA"),
                ..line("1", Some("C1"), 10, "LA")
            },
            line("1", Some("C1"), 10, "LA"),
            line("1", Some("C1"), 10, "MM"),
            Line {
                prod_code: "PRD2",
                ..line("2", None, 11, "UM")
            },
            Line {
                prod_code_40: Some("D9"),
                ..line("3", Some("C2"), 12, "LA")
            },
        ];
        let lines: Lines = rows.into_iter().collect();
        let fresh = assemble(&lines, KeyKind::BasketId);
        let mut reused = Basket::default();
        for (group, fresh) in group(&lines, KeyKind::BasketId).iter().zip(&fresh) {
            group.fill(&lines, &mut reused);
            assert_eq!(reused, fresh.basket);
            let counted = group.counted(&lines);
            assert_eq!(counted.fields(), fresh.basket.fields());
            assert_eq!(counted.line_count(), fresh.basket.line_count());
            assert!(counted.lines().eq(fresh.basket.lines()));
            assert_eq!(
                group.label(&lines),
                (fresh.label.as_str(), fresh.label_conflict)
            );
        }
        assert_eq!(fresh[0].basket.items.len(), 3);
        assert_eq!(
            fresh[0].basket.customer_price_sensitivity.as_deref(),
            Some("LA")
        );
        assert_eq!(fresh[1].basket.items[0].prod_code, "PRD2");
    }

    #[test]
    fn real_ids_are_used_and_labels_voted() {
        let lines: Lines = [
            line("994100000001", Some("C1"), 10, "LA"),
            line("994100000002", Some("C1"), 10, "MM"),
            line("994100000001", Some("C1"), 10, "UM"),
            line("994100000001", Some("C1"), 10, "UM"),
        ]
        .into_iter()
        .collect();
        assert_eq!(key_kind(&lines), KeyKind::BasketId);
        let baskets = assemble(&lines, KeyKind::BasketId);
        assert_eq!(baskets.len(), 2);
        assert_eq!(
            (baskets[0].label.as_str(), baskets[0].label_conflict),
            ("UM", true)
        );
        assert_eq!(
            (baskets[1].label.as_str(), baskets[1].label_conflict),
            ("MM", false)
        );
    }
}
