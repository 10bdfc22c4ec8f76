//! The silver row: one parsed line item ([`Line`], borrowing its text) and
//! a table of them in Arrow columns ([`Lines`]): what raw parsing builds,
//! what a silver part stores and what basket assembly reads.
//!
//! Why columns and borrowed rows, not a `Vec` of owned rows: a line has 17
//! text fields (with its source file). As owned strings that was 17
//! allocations a line when parsed and 17 more when read back from silver,
//! plus a copy of every field into the Arrow arrays that Parquet writes.
//! Parsed straight into the builders of the silver columns, a line's text is
//! copied once; read back, a [`Line`] borrows it from the columns (the ETL
//! on 52 synthetic weeks: 3.8-4.0 s with owned rows, 3.15-3.24 s with
//! these, the same silver and gold bytes).
//!
//! The text columns are Arrow string views (`Utf8View`): a value of up to
//! 12 bytes, as most codes are, lives inside its 16-byte view (no copy into
//! a shared buffer, no offset), and read back from silver a view points
//! into Parquet's dictionary page instead of copying every string out of it
//! (52 synthetic weeks, 6 alternated runs: ETL CPU 2.90 -> 2.76 s, wall
//! 1.56 -> 1.46 s by the medians; reading silver back 2.1G -> 0.9G
//! instructions). Parquet stores them as before (UTF-8 byte arrays);
//! Arrow readers see `string_view`.
//!
//! ```
//! use forest_train::etl::lines::{Line, Lines, LinesBuilder};
//! let line = Line {
//!     shop_week: 200607,
//!     shop_date: 20060413,
//!     shop_weekday: 5,
//!     shop_hour: 20,
//!     quantity: 1,
//!     spend: 1.03,
//!     prod_code: "PRD0900097",
//!     prod_code_10: "CL00001",
//!     prod_code_20: "DEP00001",
//!     prod_code_30: "G00001",
//!     prod_code_40: None,
//!     cust_code: None,
//!     cust_price_sensitivity: None,
//!     cust_lifestage: None,
//!     basket_id: "994100000001",
//!     basket_size: "L",
//!     basket_price_sensitivity: "LA",
//!     basket_type: "Top Up",
//!     basket_dominant_mission: "Fresh",
//!     store_code: "STORE00001",
//!     store_format: "LS",
//!     store_region: "E02",
//!     source_file: "transactions_200607.csv",
//!     source_line: 2,
//! };
//! let mut builder = LinesBuilder::default();
//! builder.push(&line);
//! let lines: Lines = builder.finish();
//! assert_eq!(lines.get(0), line);
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use arrow_array::builder::{Float64Builder, Int32Builder, Int64Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringViewArray,
    UInt32Array,
};
use arrow_schema::{DataType, Field, Schema};

use super::text_column::TextColumnBuilder;

/// The columns of a raw file, in the order dunnhumby ships them.
pub const RAW_COLUMNS: [&str; 22] = [
    "SHOP_WEEK",
    "SHOP_DATE",
    "SHOP_WEEKDAY",
    "SHOP_HOUR",
    "QUANTITY",
    "SPEND",
    "PROD_CODE",
    "PROD_CODE_10",
    "PROD_CODE_20",
    "PROD_CODE_30",
    "PROD_CODE_40",
    "CUST_CODE",
    "CUST_PRICE_SENSITIVITY",
    "CUST_LIFESTAGE",
    "BASKET_ID",
    "BASKET_SIZE",
    "BASKET_PRICE_SENSITIVITY",
    "BASKET_TYPE",
    "BASKET_DOMINANT_MISSION",
    "STORE_CODE",
    "STORE_FORMAT",
    "STORE_REGION",
];

/// One parsed line item (a silver row), its text borrowed from the raw
/// record it was parsed from or from the columns of a [`Lines`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line<'a> {
    /// `SHOP_WEEK`: the shop week as `YYYYWW` (the partition of silver and gold).
    pub shop_week: i32,
    /// `SHOP_DATE`: the day as `YYYYMMDD`, checked to be a real calendar date.
    pub shop_date: i32,
    /// `SHOP_WEEKDAY`: 1 = Sunday .. 7 = Saturday, as dunnhumby numbers them.
    pub shop_weekday: i32,
    /// `SHOP_HOUR`: the hour of the day, 0..=23.
    pub shop_hour: i32,
    /// `QUANTITY`: units bought on the line; always positive.
    pub quantity: i32,
    /// `SPEND`: what the line cost, in the currency of the file; finite and >= 0.
    pub spend: f64,
    /// `PROD_CODE`: the product (`PRD0900097`).
    pub prod_code: &'a str,
    /// `PROD_CODE_10`: the product's class (`CL00001`), the lowest hierarchy level.
    pub prod_code_10: &'a str,
    /// `PROD_CODE_20`: the product's department (`DEP00001`).
    pub prod_code_20: &'a str,
    /// `PROD_CODE_30`: the product's group (`G00001`).
    pub prod_code_30: &'a str,
    /// `PROD_CODE_40`: the product's division (`D00001`); `None` when the file
    /// leaves it empty.
    pub prod_code_40: Option<&'a str>,
    /// `CUST_CODE`: the loyalty-card customer; `None` for an anonymous shopper.
    pub cust_code: Option<&'a str>,
    /// `CUST_PRICE_SENSITIVITY`: the customer's recorded sensitivity (`LA`,
    /// `MM`, `UM`, `XX`); `None` when empty.
    pub cust_price_sensitivity: Option<&'a str>,
    /// `CUST_LIFESTAGE`: the customer's lifestage code (`YF`, `OT`, ...); `None`
    /// when empty.
    pub cust_lifestage: Option<&'a str>,
    /// `BASKET_ID`: the basket's id as written; in the real data it may not tell
    /// baskets apart (see [`super::baskets`]).
    pub basket_id: &'a str,
    /// `BASKET_SIZE`: `S`, `M` or `L`.
    pub basket_size: &'a str,
    /// `BASKET_PRICE_SENSITIVITY`: the basket's label, one of [`super::raw::LABELS`].
    pub basket_price_sensitivity: &'a str,
    /// `BASKET_TYPE`: `Small Shop`, `Top Up`, `Full Shop` (or `XX`).
    pub basket_type: &'a str,
    /// `BASKET_DOMINANT_MISSION`: `Fresh`, `Grocery`, `Nonfood`, `Mixed` (or `XX`).
    pub basket_dominant_mission: &'a str,
    /// `STORE_CODE`: the store (`STORE00001`).
    pub store_code: &'a str,
    /// `STORE_FORMAT`: the store's format (`LS`, `MS`, `SS`, `XLS`).
    pub store_format: &'a str,
    /// `STORE_REGION`: the store's region (`E01`..`W03`).
    pub store_region: &'a str,
    /// The raw file the line came from.
    pub source_file: &'a str,
    /// The 1-based line number in `source_file` (the header is line 1).
    pub source_line: u64,
}

/// The product part of a [`Line`]: see [`Lines::bought`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bought<'a> {
    /// `PROD_CODE`.
    pub prod_code: &'a str,
    /// `PROD_CODE_10`.
    pub prod_code_10: &'a str,
    /// `PROD_CODE_20`.
    pub prod_code_20: &'a str,
    /// `PROD_CODE_30`.
    pub prod_code_30: &'a str,
    /// `PROD_CODE_40`, `None` when empty.
    pub prod_code_40: Option<&'a str>,
    /// `QUANTITY`.
    pub quantity: i32,
    /// `SPEND`.
    pub spend: f64,
}

/// The silver schema: the raw columns typed, then the line's provenance
/// (`SOURCE_FILE`, `SOURCE_LINE`).
pub fn schema() -> &'static Arc<Schema> {
    static SCHEMA: OnceLock<Arc<Schema>> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut fields: Vec<Field> = RAW_COLUMNS
            .iter()
            .map(|&name| {
                let (dt, nullable) = match name {
                    "SHOP_WEEK" | "SHOP_DATE" | "SHOP_WEEKDAY" | "SHOP_HOUR" | "QUANTITY" => {
                        (DataType::Int32, false)
                    }
                    "SPEND" => (DataType::Float64, false),
                    "PROD_CODE_40" | "CUST_CODE" | "CUST_PRICE_SENSITIVITY" | "CUST_LIFESTAGE" => {
                        (DataType::Utf8View, true)
                    }
                    _ => (DataType::Utf8View, false),
                };
                Field::new(name, dt, nullable)
            })
            .collect();
        fields.push(Field::new("SOURCE_FILE", DataType::Utf8View, false));
        fields.push(Field::new("SOURCE_LINE", DataType::Int64, false));
        Arc::new(Schema::new(fields))
    })
}

/// The integer columns: `SHOP_WEEK` .. `QUANTITY`.
const INTS: usize = 5;
/// The text columns: `PROD_CODE` .. `STORE_REGION`, then `SOURCE_FILE`.
const TEXTS: usize = 17;
/// Where the text columns start in the schema.
const FIRST_TEXT: usize = 6;

/// Lines in the silver schema's columns (one Arrow record batch), each
/// column downcast once.
#[derive(Debug, Clone)]
pub struct Lines {
    batch: RecordBatch,
    ints: [Int32Array; INTS],
    spend: Float64Array,
    texts: [StringViewArray; TEXTS],
    source_line: Int64Array,
}

impl PartialEq for Lines {
    fn eq(&self, other: &Lines) -> bool {
        self.batch == other.batch
    }
}

impl Default for Lines {
    fn default() -> Lines {
        LinesBuilder::default().finish()
    }
}

impl Lines {
    /// Lines from a record batch of the silver schema (a silver part read
    /// back); any other columns are an error naming them.
    pub fn from_batch(batch: RecordBatch) -> Result<Lines, String> {
        super::parquet_io::check_columns(&batch, schema())?;
        // The schema check makes every downcast below succeed.
        let ints = std::array::from_fn(|c| batch.column(c).as_primitive::<Int32Type>().clone());
        let spend = batch.column(INTS).as_primitive::<Float64Type>().clone();
        let texts = std::array::from_fn(|c| batch.column(FIRST_TEXT + c).as_string_view().clone());
        let source_line = batch
            .column(FIRST_TEXT + TEXTS)
            .as_primitive::<Int64Type>()
            .clone();
        Ok(Lines {
            batch,
            ints,
            spend,
            texts,
            source_line,
        })
    }

    /// The lines as a record batch of the silver schema.
    pub fn batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// How many lines.
    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Line `i` (panics past the end, like a slice).
    pub fn get(&self, i: usize) -> Line<'_> {
        let text = |c: usize| self.texts[c - FIRST_TEXT].value(i);
        let optional = |c: usize| {
            let column = &self.texts[c - FIRST_TEXT];
            column.is_valid(i).then(|| column.value(i))
        };
        let int = |c: usize| self.ints[c].value(i);
        Line {
            shop_week: int(0),
            shop_date: int(1),
            shop_weekday: int(2),
            shop_hour: int(3),
            quantity: int(4),
            spend: self.spend.value(i),
            prod_code: text(6),
            prod_code_10: text(7),
            prod_code_20: text(8),
            prod_code_30: text(9),
            prod_code_40: optional(10),
            cust_code: optional(11),
            cust_price_sensitivity: optional(12),
            cust_lifestage: optional(13),
            basket_id: text(14),
            basket_size: text(15),
            basket_price_sensitivity: text(16),
            basket_type: text(17),
            basket_dominant_mission: text(18),
            store_code: text(19),
            store_format: text(20),
            store_region: text(21),
            source_file: text(22),
            source_line: self.source_line.value(i) as u64,
        }
    }

    /// The lines in table order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Line<'_>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// What line `i` bought (its product's codes, quantity and spend),
    /// read without the rest of the line: a basket's items are filled
    /// from this, once a line per pass.
    pub fn bought(&self, i: usize) -> Bought<'_> {
        let text = |c: usize| self.texts[c - FIRST_TEXT].value(i);
        let division = &self.texts[10 - FIRST_TEXT];
        Bought {
            prod_code: text(6),
            prod_code_10: text(7),
            prod_code_20: text(8),
            prod_code_30: text(9),
            prod_code_40: division.is_valid(i).then(|| division.value(i)),
            quantity: self.ints[4].value(i),
            spend: self.spend.value(i),
        }
    }

    /// `BASKET_ID` of line `i`, read without the rest of the line.
    pub fn basket_id(&self, i: usize) -> &str {
        self.texts[14 - FIRST_TEXT].value(i)
    }

    /// `BASKET_PRICE_SENSITIVITY` (the label) of line `i`.
    pub fn label(&self, i: usize) -> &str {
        self.texts[16 - FIRST_TEXT].value(i)
    }

    /// Silver parts of one week, each one raw file's lines in file order
    /// (as the ETL writes them), joined in source order: by file, then
    /// line number, the order of the raw lines that decides a basket's
    /// first line.
    pub fn join_files(mut parts: Vec<Lines>) -> Result<Lines, String> {
        parts.retain(|p| !p.is_empty());
        parts.sort_by(|a, b| a.get(0).source_file.cmp(b.get(0).source_file));
        Lines::concat(&parts)
    }

    /// The tables one after the other, as one; an error when a text
    /// column would pass the 2 GiB an Arrow string column can address.
    pub fn concat(tables: &[Lines]) -> Result<Lines, String> {
        match tables {
            [] => Ok(Lines::default()),
            [one] => Ok(one.clone()),
            _ => {
                let batches: Vec<&RecordBatch> = tables.iter().map(|t| &t.batch).collect();
                let batch = arrow_select::concat::concat_batches(schema(), batches)
                    .map_err(|e| e.to_string())?;
                Lines::from_batch(batch)
            }
        }
    }

    /// The lines of each shop week, in table order within a week. A table
    /// of one week (the usual raw file) is kept as it is, not copied.
    pub fn by_week(self) -> BTreeMap<i32, Lines> {
        let weeks = &self.ints[0];
        let mut by_week = BTreeMap::new();
        let Some(first) = weeks.values().first().copied() else {
            return by_week;
        };
        if weeks.values().iter().all(|&w| w == first) {
            by_week.insert(first, self);
            return by_week;
        }
        // Each week's rows, in table order, gathered in one pass.
        let mut rows: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
        for (row, &week) in weeks.values().iter().enumerate() {
            rows.entry(week).or_default().push(row as u32);
        }
        for (week, rows) in rows {
            let batch =
                arrow_select::take::take_record_batch(&self.batch, &UInt32Array::from(rows))
                    .expect("rows of the table");
            by_week.insert(week, Lines::from_batch(batch).expect("the silver schema"));
        }
        by_week
    }
}

impl<'a> FromIterator<Line<'a>> for Lines {
    fn from_iter<I: IntoIterator<Item = Line<'a>>>(lines: I) -> Lines {
        let mut builder = LinesBuilder::default();
        for line in lines {
            builder.push(&line);
        }
        builder.finish()
    }
}

/// Builds a [`Lines`] table a line at a time, each field copied straight
/// into its column.
#[derive(Debug)]
pub struct LinesBuilder {
    ints: [Int32Builder; INTS],
    spend: Float64Builder,
    texts: [TextColumnBuilder; TEXTS],
    source_line: Int64Builder,
}

impl Default for LinesBuilder {
    fn default() -> LinesBuilder {
        LinesBuilder::with_capacity(0)
    }
}

impl LinesBuilder {
    /// Room for about `lines` lines.
    pub fn with_capacity(lines: usize) -> LinesBuilder {
        LinesBuilder {
            ints: std::array::from_fn(|_| Int32Builder::with_capacity(lines)),
            spend: Float64Builder::with_capacity(lines),
            texts: std::array::from_fn(|_| TextColumnBuilder::with_capacity(lines)),
            source_line: Int64Builder::with_capacity(lines),
        }
    }

    /// Appends one line.
    pub fn push(&mut self, line: &Line<'_>) {
        let [week, date, weekday, hour, quantity] = &mut self.ints;
        week.append_value(line.shop_week);
        date.append_value(line.shop_date);
        weekday.append_value(line.shop_weekday);
        hour.append_value(line.shop_hour);
        quantity.append_value(line.quantity);
        self.spend.append_value(line.spend);
        let [prod, prod_10, prod_20, prod_30, prod_40, cust, cust_sensitivity, lifestage, basket_id, size, label, basket_type, mission, store, format, region, file] =
            &mut self.texts;
        prod.append_value(line.prod_code);
        prod_10.append_value(line.prod_code_10);
        prod_20.append_value(line.prod_code_20);
        prod_30.append_value(line.prod_code_30);
        prod_40.append_option(line.prod_code_40);
        cust.append_option(line.cust_code);
        cust_sensitivity.append_option(line.cust_price_sensitivity);
        lifestage.append_option(line.cust_lifestage);
        basket_id.append_value(line.basket_id);
        size.append_value(line.basket_size);
        label.append_value(line.basket_price_sensitivity);
        basket_type.append_value(line.basket_type);
        mission.append_value(line.basket_dominant_mission);
        store.append_value(line.store_code);
        format.append_value(line.store_format);
        region.append_value(line.store_region);
        file.append_value(line.source_file);
        self.source_line.append_value(line.source_line as i64);
    }

    /// The table of the lines pushed.
    pub fn finish(mut self) -> Lines {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(FIRST_TEXT + TEXTS + 1);
        columns.extend(
            self.ints
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        columns.push(Arc::new(self.spend.finish()));
        columns.extend(
            self.texts
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        columns.push(Arc::new(self.source_line.finish()));
        let batch = RecordBatch::try_new(schema().clone(), columns)
            .expect("the builders follow the silver schema");
        Lines::from_batch(batch).expect("the silver schema")
    }
}

/// A line of made-up values, for tests to change what they are about.
#[cfg(test)]
pub(crate) fn sample_line() -> Line<'static> {
    Line {
        shop_week: 200607,
        shop_date: 20060413,
        shop_weekday: 5,
        shop_hour: 20,
        quantity: 1,
        spend: 1.0,
        prod_code: "PRD1",
        prod_code_10: "CL1",
        prod_code_20: "DEP1",
        prod_code_30: "G1",
        prod_code_40: None,
        cust_code: None,
        cust_price_sensitivity: None,
        cust_lifestage: None,
        basket_id: "1",
        basket_size: "S",
        basket_price_sensitivity: "MM",
        basket_type: "Top Up",
        basket_dominant_mission: "Fresh",
        store_code: "STORE1",
        store_format: "LS",
        store_region: "E02",
        source_file: "f",
        source_line: 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(
        week: i32,
        file: &'static str,
        number: u64,
        cust: Option<&'static str>,
    ) -> Line<'static> {
        Line {
            shop_week: week,
            quantity: 2,
            spend: 1.5,
            cust_code: cust,
            cust_price_sensitivity: cust.map(|_| "LA"),
            source_file: file,
            source_line: number,
            ..sample_line()
        }
    }

    fn table(lines: &[Line<'_>]) -> Lines {
        lines.iter().copied().collect()
    }

    #[test]
    fn a_table_gives_back_its_lines_split_by_week_and_joined_in_source_order() {
        let lines = [
            line(200607, "b.csv", 2, Some("C1")),
            line(200608, "a.csv", 3, None),
            line(200607, "a.csv", 9, None),
            line(200608, "a.csv", 2, Some("C2")),
        ];
        let all = table(&lines);
        assert_eq!(all.len(), 4);
        assert_eq!(all.iter().collect::<Vec<_>>(), lines);

        let by_week = all.clone().by_week();
        assert_eq!(
            by_week.keys().copied().collect::<Vec<_>>(),
            [200607, 200608]
        );
        // Table order within a week.
        assert_eq!(
            by_week[&200607].iter().collect::<Vec<_>>(),
            [lines[0], lines[2]]
        );
        assert_eq!(
            by_week[&200608].iter().collect::<Vec<_>>(),
            [lines[1], lines[3]]
        );
        assert_eq!(by_week[&200608].basket_id(1), "1");

        // Parts of one file each, joined by file name.
        let b = table(&lines[..1]);
        let a = table(&[lines[3], lines[1], lines[2]]);
        let joined = Lines::join_files(vec![b, Lines::default(), a]).unwrap();
        assert_eq!(
            joined.iter().collect::<Vec<_>>(),
            [lines[3], lines[1], lines[2], lines[0]]
        );

        // One week is kept whole, and joined tables are one table.
        let one = table(&lines[..1]).by_week();
        assert_eq!(one[&200607].iter().collect::<Vec<_>>(), lines[..1]);
        let joined = Lines::concat(&[by_week[&200607].clone(), by_week[&200608].clone()]).unwrap();
        assert_eq!(joined.len(), 4);
        assert!(Lines::default().by_week().is_empty());
    }

    #[test]
    fn a_batch_of_other_columns_is_refused_by_name() {
        let all = table(&[line(200607, "a.csv", 2, None)]);
        let fewer = all.batch().project(&[0, 1]).unwrap();
        let err = Lines::from_batch(fewer).unwrap_err();
        assert!(
            err.contains("SHOP_WEEK Int32") && err.contains("SHOP_DATE"),
            "{err}"
        );
    }
}
