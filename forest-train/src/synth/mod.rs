//! Synthetic raw transactions in the dunnhumby weekly-file schema, with a
//! planted relation between products' price tiers, customers, stores and the
//! basket label (`BASKET_PRICE_SENSITIVITY`).
//!
//! The output of [`generate_week`] is one raw weekly CSV file, byte for byte
//! in the layout of `../shared/data/dunnhumby/transactions_YYYYWW.csv`: the
//! same 22 columns in the same order ([`HEADER`]), the same code formats
//! (`PRD0900097`, `CL00001`, `DEP00001`, `G00001`, `D00001`,
//! `CUST0000634693`, `STORE00001`, regions `E01`..`W03`), CRLF line endings,
//! and the same kinds of gaps: anonymous baskets with empty customer columns,
//! known customers with an empty lifestage or an `XX` sensitivity, `XX`
//! labels, basket types and missions, empty `PROD_CODE_40`. Unlike the real
//! copy, `BASKET_ID` really identifies a basket (15 digits, unique across
//! weeks).
//!
//! # The world
//!
//! A seed fixes a world that every week shares:
//!
//! * a product catalogue of [`N_PRODUCTS`] products under the hierarchy
//!   D ([`N_DIVISIONS`]) > G ([`N_GROUPS`]) > DEP ([`N_DEPARTMENTS`]) >
//!   CL ([`N_PRODUCT_CLASSES`]) > PRD. Every product has a price tier
//!   (budget, standard, premium; shares [`TIER_SHARE`], tilted a little per
//!   product class by [`CLASS_TIER_TILT_SD`]) and a unit price: a per-class
//!   price level (log-normal around [`CLASS_MEDIAN_PRICE`]) times
//!   [`TIER_PRICE_FACTOR`] times product noise. Within a tier, products are
//!   popular by a Zipf law with exponent [`ZIPF_EXPONENT`];
//! * [`N_CUSTOMERS`] customers with a price sensitivity (LA/MM/UM in the
//!   proportions [`CUSTOMER_SENSITIVITY_MIX`]), a lifestage, a loyalty weight
//!   (how often they shop) and a home store;
//! * [`N_STORES`] stores with a format, a region and an affluence: a tilt of
//!   the class mix towards UM (positive) or LA (negative) drawn around
//!   [`REGION_AFFLUENCE`] + [`FORMAT_AFFLUENCE`] with spread
//!   [`STORE_AFFLUENCE_SD`]. Each store's bias is the class mix tilted by its
//!   affluence.
//!
//! # The planted relation
//!
//! Each basket: a known customer (or, with probability [`ANONYMOUS_RATE`],
//! an anonymous shopper whose sensitivity is drawn from the population mix)
//! shops at their home store (probability [`HOME_STORE_RATE`]) or at a store
//! drawn by traffic and by how well its bias fits the shopper. The label is
//! the shopper's sensitivity with probability [`LABEL_FOLLOWS_CUSTOMER`],
//! otherwise a draw from the store's bias. The basket's lines then pick a
//! price tier from [`TIER_GIVEN_LABEL`] and a product within the tier by
//! popularity. So the label shows in the tier mix of the products bought
//! (which per-product class priors recover), in the customer's recorded
//! sensitivity and, more weakly, in the store. Size, type and mission carry
//! no label information; spend per line only a little (through price).
//!
//! # Determinism
//!
//! Everything comes from [`ChaCha8Rng`](rand_chacha::ChaCha8Rng) seeded with the seed: the world
//! from stream 0, each week from its own stream derived from the absolute
//! shop week (not from its position in the run). The same seed gives the
//! same bytes whatever the thread count, and generating weeks 200607..200610
//! then 200611..200614 gives the same files as 200607..200614 in one run.
//!
//! # How it is put together
//!
//! This file holds the named constants above (every number the world and the
//! planted relation are made of), [`SynthConfig`] and the driver
//! ([`generate`], [`generate_week`]). The work happens in:
//!
//! * `world`: the catalogue, customers and stores a seed fixes;
//! * `week`: one week's baskets and their lines, written as CSV bytes;
//! * `calendar`: shop weeks (`YYYYWW`), their Mondays, and dates and
//!   weekdays the way dunnhumby writes them;
//! * `sampling`: the few draws everything is made of (categorical, normal,
//!   distinct codes, tree levels, shuffles, tilts).

use rayon::prelude::*;

mod calendar;
mod sampling;
#[cfg(test)]
mod tests;
mod week;
mod world;

pub use calendar::{civil_from_days, days_from_civil, dunnhumby_weekday};
use calendar::{week_from_ordinal, week_ordinal};
use world::World;

/// The header line of a raw weekly file, exactly as in the dunnhumby files.
pub const HEADER: &str = "SHOP_WEEK,SHOP_DATE,SHOP_WEEKDAY,SHOP_HOUR,QUANTITY,SPEND,PROD_CODE,PROD_CODE_10,PROD_CODE_20,PROD_CODE_30,PROD_CODE_40,CUST_CODE,CUST_PRICE_SENSITIVITY,CUST_LIFESTAGE,BASKET_ID,BASKET_SIZE,BASKET_PRICE_SENSITIVITY,BASKET_TYPE,BASKET_DOMINANT_MISSION,STORE_CODE,STORE_FORMAT,STORE_REGION";
/// Columns per row.
pub const N_COLUMNS: usize = 22;
/// The label classes, in the order used by every `[f64; 3]` below.
pub const CLASSES: [&str; 3] = ["LA", "MM", "UM"];

// ---------------------------------------------------------------- catalogue
/// Divisions (`D00001`..), the top of the product hierarchy.
pub const N_DIVISIONS: usize = 8;
/// Product groups (`G00001`..), each under one division.
pub const N_GROUPS: usize = 30;
/// Departments (`DEP00001`..), each under one group.
pub const N_DEPARTMENTS: usize = 80;
/// Product classes (`CL00001`..), each under one department.
pub const N_PRODUCT_CLASSES: usize = 230;
/// Products (`PRD09xxxxx`), each in one product class.
pub const N_PRODUCTS: usize = 3_000;
/// Product codes are `PRD` + 7 digits drawn from this range, as in the real
/// data (`PRD0900003`..`PRD0904997`).
pub const PRODUCT_CODE_RANGE: (u32, u32) = (900_001, 905_000);
/// The mission (0 Fresh, 1 Grocery, 2 Nonfood) of each division's products.
pub const DIVISION_MISSION: [usize; N_DIVISIONS] = [0, 1, 0, 1, 2, 0, 1, 0];
/// A basket's dominant mission is the one holding at least this share of its
/// spend; otherwise it is `Mixed`.
pub const MISSION_DOMINANCE: f64 = 0.5;
/// Share of products with an empty `PROD_CODE_40` (their division unknown).
pub const PRODUCT_NO_DIVISION_RATE: f64 = 0.02;

/// Price tiers: budget, standard, premium.
pub const TIERS: [&str; 3] = ["budget", "standard", "premium"];
/// Share of the catalogue in each tier, before the per-class tilt.
pub const TIER_SHARE: [f64; 3] = [0.35, 0.40, 0.25];
/// Spread of a product class's tilt towards premium (positive) or budget
/// (negative) products: makes tiers cluster a little by category.
pub const CLASS_TIER_TILT_SD: f64 = 0.4;
/// Median price level of a product class (log-normal across classes).
pub const CLASS_MEDIAN_PRICE: f64 = 1.60;
/// Log-scale spread of class price levels.
pub const CLASS_PRICE_SD: f64 = 0.6;
/// A product's unit price is its class level times this factor for its tier.
pub const TIER_PRICE_FACTOR: [f64; 3] = [0.65, 1.0, 1.6];
/// Log-scale spread of a product's price around its class and tier level.
pub const PRODUCT_PRICE_SD: f64 = 0.15;
/// Popularity within a tier: the product of rank r (random order) has
/// weight r^-ZIPF_EXPONENT. 0 is uniform.
pub const ZIPF_EXPONENT: f64 = 0.6;

// ---------------------------------------------------------------- customers
/// Known customers, reused across weeks.
pub const N_CUSTOMERS: usize = 2_000;
/// Population mix of price sensitivity LA/MM/UM (customers and anonymous
/// shoppers alike); the basket label mix follows it.
pub const CUSTOMER_SENSITIVITY_MIX: [f64; 3] = [0.255, 0.46, 0.285];
/// Customers whose recorded `CUST_PRICE_SENSITIVITY` is `XX` (their true
/// sensitivity still drives their baskets).
pub const CUSTOMER_XX_SENSITIVITY_RATE: f64 = 0.01;
/// Lifestages and their shares among customers with a known lifestage.
pub const LIFESTAGE_MIX: [(&str, f64); 6] = [
    ("OT", 0.34),
    ("YF", 0.23),
    ("YA", 0.15),
    ("OA", 0.13),
    ("PE", 0.08),
    ("OF", 0.07),
];
/// Known customers with an empty `CUST_LIFESTAGE`.
pub const CUSTOMER_NO_LIFESTAGE_RATE: f64 = 0.13;
/// Known customers with lifestage `XX`.
pub const CUSTOMER_XX_LIFESTAGE_RATE: f64 = 0.005;
/// Log-scale spread of customers' loyalty weights (how often they shop).
pub const CUSTOMER_LOYALTY_SD: f64 = 0.7;

// ---------------------------------------------------------------- stores
/// Stores (`STORE00001`..), codes drawn from `1..=STORE_CODE_MAX`.
pub const N_STORES: usize = 700;
/// Largest store number, as in the real data (`STORE02899`).
pub const STORE_CODE_MAX: u32 = 2_900;
/// Store formats: code, share of stores, relative traffic (baskets per store).
pub const STORE_FORMATS: [(&str, f64, f64); 4] = [
    ("LS", 0.47, 1.4),
    ("MS", 0.31, 0.6),
    ("SS", 0.16, 0.4),
    ("XLS", 0.06, 2.0),
];
/// Affluence shift of each format (positive leans UM, negative LA).
pub const FORMAT_AFFLUENCE: [f64; 4] = [0.0, -0.1, 0.25, -0.2];
/// Regions (equal shares of stores) and their affluence shifts.
pub const REGION_AFFLUENCE: [(&str, f64); 12] = [
    ("E01", 0.2),
    ("E02", 0.0),
    ("E03", -0.1),
    ("N01", -0.5),
    ("N02", -0.35),
    ("N03", -0.2),
    ("S01", 0.5),
    ("S02", 0.35),
    ("S03", 0.2),
    ("W01", -0.2),
    ("W02", -0.05),
    ("W03", 0.05),
];
/// Spread of a store's affluence around its region and format shifts.
pub const STORE_AFFLUENCE_SD: f64 = 0.5;
/// Log-scale spread of a store's traffic around its format's level.
pub const STORE_TRAFFIC_SD: f64 = 0.4;

// ---------------------------------------------------------------- baskets
/// Baskets without a loyalty card: empty customer columns.
pub const ANONYMOUS_RATE: f64 = 0.20;
/// A known customer shops at their home store with this probability,
/// otherwise at a store drawn by traffic and fit.
pub const HOME_STORE_RATE: f64 = 0.85;
/// The basket label is the shopper's own sensitivity with this
/// probability, otherwise a draw from the store's bias.
pub const LABEL_FOLLOWS_CUSTOMER: f64 = 0.70;
/// Tier probabilities (budget, standard, premium) of a line given the
/// basket label (LA, MM, UM): the planted relation.
pub const TIER_GIVEN_LABEL: [[f64; 3]; 3] =
    [[0.60, 0.30, 0.10], [0.25, 0.50, 0.25], [0.10, 0.30, 0.60]];
/// Baskets whose `BASKET_PRICE_SENSITIVITY` is written as `XX`.
pub const BASKET_XX_LABEL_RATE: f64 = 0.002;
/// Baskets whose `BASKET_TYPE` and `BASKET_DOMINANT_MISSION` are `XX`.
pub const BASKET_XX_TYPE_RATE: f64 = 0.005;
/// Basket sizes: code, share of baskets, and weights of 1, 2, ... lines
/// starting at the smallest count (S: 1-5, M: 6-15, L: 16-40 lines).
pub const BASKET_SIZES: [(&str, f64, usize, usize); 3] =
    [("S", 0.35, 1, 5), ("M", 0.40, 6, 15), ("L", 0.25, 16, 40)];
/// Basket types.
pub const BASKET_TYPES: [&str; 3] = ["Small Shop", "Top Up", "Full Shop"];
/// Probabilities of each basket type given the size (S, M, L).
pub const TYPE_GIVEN_SIZE: [[f64; 3]; 3] =
    [[0.70, 0.27, 0.03], [0.20, 0.60, 0.20], [0.03, 0.35, 0.62]];
/// Missions; `Mixed` when no mission dominates.
pub const MISSIONS: [&str; 4] = ["Fresh", "Grocery", "Nonfood", "Mixed"];
/// Quantity of a line and its weight.
pub const QUANTITY_WEIGHTS: [(u32, f64); 9] = [
    (1, 800.0),
    (2, 80.0),
    (3, 70.0),
    (4, 20.0),
    (5, 10.0),
    (6, 8.0),
    (8, 5.0),
    (10, 4.0),
    (12, 3.0),
];
/// Line spend = quantity x unit price x a factor uniform in this range
/// (promotions and weighed goods).
pub const SPEND_NOISE: (f64, f64) = (0.90, 1.05);
/// Baskets per day of the week, Monday first (the real week's line counts).
pub const WEEKDAY_WEIGHTS: [f64; 7] = [3848.0, 3492.0, 3781.0, 3472.0, 3334.0, 3794.0, 3519.0];
/// Baskets per hour 8..=21 (the real week's line counts).
pub const HOUR_WEIGHTS: [f64; 14] = [
    1123.0, 994.0, 1286.0, 1752.0, 2072.0, 2186.0, 2393.0, 2722.0, 1819.0, 2088.0, 1700.0, 1257.0,
    1481.0, 2367.0,
];
/// First hour of `HOUR_WEIGHTS`.
pub const FIRST_HOUR: u32 = 8;
/// Basket ids: `BASKET_ID_BASE + (week ordinal mod 100000) * 1e6 + n`.
pub const BASKET_ID_BASE: u64 = 994_100_000_000_000;
/// Most baskets a week can hold with unique ids.
pub const MAX_BASKETS_PER_WEEK: usize = 1_000_000;

// ---------------------------------------------------------------- calendar
/// Shop week whose Monday is [`ANCHOR_MONDAY`]; the real file's week.
pub const ANCHOR_WEEK: u32 = 200_607;
/// Monday of [`ANCHOR_WEEK`] as (year, month, day).
pub const ANCHOR_MONDAY: (i64, u32, u32) = (2006, 4, 10);
/// Weeks per shop year: week 52 is followed by week 01 of the next year.
pub const WEEKS_PER_YEAR: u32 = 52;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthConfig {
    /// Seed of the world and of every week.
    pub seed: u64,
    /// Number of weekly files.
    pub weeks: usize,
    /// Baskets per weekly file.
    pub baskets_per_week: usize,
    /// First shop week, `YYYYWW`.
    pub first_week: u32,
    /// Relative weights of small, medium and large baskets instead of the
    /// shares of [`BASKET_SIZES`]: a week whose mix has shifted (for drift
    /// monitoring demos and tests). `None` keeps the world's own mix.
    pub size_mix: Option<[u32; 3]>,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 0,
            weeks: 4,
            baskets_per_week: 1_000,
            first_week: ANCHOR_WEEK,
            size_mix: None,
        }
    }
}

/// A configuration that cannot be generated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SynthError {
    /// The first week is not a valid `YYYYWW` code.
    #[error("shop week {0} is not YYYYWW with a week 01..52 and a year 1601..9999")]
    BadWeek(u32),
    /// The basket count is 0 or not below [`MAX_BASKETS_PER_WEEK`].
    #[error("baskets per week must be 1..{MAX_BASKETS_PER_WEEK}, got {0}")]
    BadBaskets(usize),
    /// The last week of the run would come after shop week 999952, the last
    /// there is.
    #[error("the run ends after shop week 999952")]
    TooManyWeeks,
    /// A basket size mix whose weights are all 0.
    #[error("the basket size mix needs a weight above 0")]
    BadSizeMix,
}

impl SynthConfig {
    /// Checks the week code, the basket count and that the last week exists.
    pub fn validate(&self) -> Result<(), SynthError> {
        week_ordinal(self.first_week)?;
        if self.baskets_per_week == 0 || self.baskets_per_week >= MAX_BASKETS_PER_WEEK {
            return Err(SynthError::BadBaskets(self.baskets_per_week));
        }
        if self.size_mix.is_some_and(|m| m.iter().all(|&w| w == 0)) {
            return Err(SynthError::BadSizeMix);
        }
        if self.weeks > 0 {
            let last = week_ordinal(self.first_week)? + (self.weeks as u64 - 1);
            if last / WEEKS_PER_YEAR as u64 > 9_999 {
                return Err(SynthError::TooManyWeeks);
            }
        }
        Ok(())
    }

    /// The shop week (`YYYYWW`) of the `week_index`-th file.
    ///
    /// # Panics
    /// If `first_week` is invalid (see [`SynthConfig::validate`]).
    pub fn shop_week(&self, week_index: usize) -> u32 {
        let ord = week_ordinal(self.first_week).expect("invalid first_week") + week_index as u64;
        week_from_ordinal(ord)
    }

    /// The file name of the `week_index`-th file: `transactions_YYYYWW.csv`.
    pub fn file_name(&self, week_index: usize) -> String {
        format!("transactions_{}.csv", self.shop_week(week_index))
    }
}

/// Counts for one generated week.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WeekStats {
    /// Shop week, `YYYYWW`.
    pub shop_week: u32,
    /// File name, `transactions_YYYYWW.csv`.
    pub file_name: String,
    /// Data rows (line items), header excluded.
    pub rows: usize,
    /// Baskets.
    pub baskets: usize,
    /// Baskets per written label: LA, MM, UM, XX.
    pub labels: [usize; 4],
    /// File size.
    pub bytes: usize,
}

/// Counts for a whole run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SynthSummary {
    /// One entry per week, in week order.
    pub weeks: Vec<WeekStats>,
}

impl SynthSummary {
    /// Data rows (line items) over all weeks.
    pub fn rows(&self) -> usize {
        self.weeks.iter().map(|w| w.rows).sum()
    }
    /// Baskets over all weeks.
    pub fn baskets(&self) -> usize {
        self.weeks.iter().map(|w| w.baskets).sum()
    }
    /// Bytes written over all weeks.
    pub fn bytes(&self) -> usize {
        self.weeks.iter().map(|w| w.bytes).sum()
    }
    /// Baskets per written label: LA, MM, UM, XX.
    pub fn labels(&self) -> [usize; 4] {
        let mut l = [0; 4];
        for w in &self.weeks {
            for (a, b) in l.iter_mut().zip(w.labels) {
                *a += b;
            }
        }
        l
    }
}

/// The CSV bytes of the `week_index`-th weekly file of `config`.
///
/// # Panics
/// If the configuration is invalid (see [`SynthConfig::validate`]).
pub fn generate_week(config: &SynthConfig, week_index: usize) -> Vec<u8> {
    World::new(config.seed).week(config, week_index).0
}

/// Generates every week of `config` in parallel (rayon) and hands each file
/// to `write(file_name, bytes)`, then to `progress`. Returns the per-week
/// counts in week order, or the first error `write` returned. The bytes do
/// not depend on the number of threads.
///
/// # Panics
/// If the configuration is invalid (see [`SynthConfig::validate`]).
pub fn generate<E: Send>(
    config: &SynthConfig,
    write: impl Fn(&str, Vec<u8>) -> Result<(), E> + Sync,
    progress: impl Fn(&WeekStats) + Sync,
) -> Result<SynthSummary, E> {
    config
        .validate()
        .unwrap_or_else(|e| panic!("invalid synth configuration: {e}"));
    let world = World::new(config.seed);
    let weeks = (0..config.weeks)
        .into_par_iter()
        .map(|i| {
            let (bytes, stats) = world.week(config, i);
            write(&stats.file_name, bytes)?;
            progress(&stats);
            Ok(stats)
        })
        .collect::<Result<Vec<_>, E>>()?;
    Ok(SynthSummary { weeks })
}
