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
//! Everything comes from [`ChaCha8Rng`] seeded with the seed: the world
//! from stream 0, each week from its own stream derived from the absolute
//! shop week (not from its position in the run). The same seed gives the
//! same bytes whatever the thread count, and generating weeks 200607..200610
//! then 200611..200614 gives the same files as 200607..200614 in one run.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

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
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 0,
            weeks: 4,
            baskets_per_week: 1_000,
            first_week: ANCHOR_WEEK,
        }
    }
}

/// A configuration that cannot be generated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SynthError {
    #[error("shop week {0} is not YYYYWW with a week 01..52 and a year 1601..9999")]
    BadWeek(u32),
    #[error("baskets per week must be 1..{MAX_BASKETS_PER_WEEK}, got {0}")]
    BadBaskets(usize),
    #[error("the run ends after shop week 999952")]
    TooManyWeeks,
}

impl SynthConfig {
    /// Checks the week code, the basket count and that the last week exists.
    pub fn validate(&self) -> Result<(), SynthError> {
        week_ordinal(self.first_week)?;
        if self.baskets_per_week == 0 || self.baskets_per_week >= MAX_BASKETS_PER_WEEK {
            return Err(SynthError::BadBaskets(self.baskets_per_week));
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
    pub fn rows(&self) -> usize {
        self.weeks.iter().map(|w| w.rows).sum()
    }
    pub fn baskets(&self) -> usize {
        self.weeks.iter().map(|w| w.baskets).sum()
    }
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

// ---------------------------------------------------------------- calendar

/// Weeks since year 0 week 01 of a `YYYYWW` code.
fn week_ordinal(code: u32) -> Result<u64, SynthError> {
    let (year, week) = (code / 100, code % 100);
    if !(1601..=9999).contains(&year) || !(1..=WEEKS_PER_YEAR).contains(&week) {
        return Err(SynthError::BadWeek(code));
    }
    Ok(year as u64 * WEEKS_PER_YEAR as u64 + (week as u64 - 1))
}

fn week_from_ordinal(ord: u64) -> u32 {
    let year = ord / WEEKS_PER_YEAR as u64;
    let week = ord % WEEKS_PER_YEAR as u64 + 1;
    (year * 100 + week) as u32
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// dunnhumby's `SHOP_WEEKDAY` of a day count: 1 = Sunday .. 7 = Saturday.
pub fn dunnhumby_weekday(days: i64) -> u32 {
    // 1970-01-01 was a Thursday (5).
    ((days + 4).rem_euclid(7) + 1) as u32
}

/// Day count of the Monday that starts a shop week.
fn week_monday(ord: u64) -> i64 {
    let (y, m, d) = ANCHOR_MONDAY;
    let anchor_ord = week_ordinal(ANCHOR_WEEK).expect("valid anchor");
    days_from_civil(y, m, d) + 7 * (ord as i64 - anchor_ord as i64)
}

// ---------------------------------------------------------------- sampling

/// A discrete distribution by cumulative weights.
#[derive(Clone, Debug)]
struct Categorical {
    cum: Vec<f64>,
}

impl Categorical {
    fn new(weights: impl IntoIterator<Item = f64>) -> Self {
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

    fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = *self.cum.last().expect("non-empty");
        let u = rng.random::<f64>() * total;
        self.cum
            .partition_point(|&c| c <= u)
            .min(self.cum.len() - 1)
    }
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box-Muller; 1 - u keeps the logarithm finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `k` distinct values of `lo..=hi`, sorted (Floyd's algorithm).
fn sample_distinct(rng: &mut ChaCha8Rng, k: usize, lo: u32, hi: u32) -> Vec<u32> {
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
fn level_parents(rng: &mut ChaCha8Rng, n_children: usize, n_parents: usize) -> Vec<usize> {
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

fn shuffle<T>(rng: &mut ChaCha8Rng, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        v.swap(i, rng.random_range(0..=i));
    }
}

/// `p` tilted by `a`: `p[k] * exp(a * (k - 1))`, normalised.
fn tilt(p: [f64; 3], a: f64) -> [f64; 3] {
    let mut q = [p[0] * (-a).exp(), p[1], p[2] * a.exp()];
    let s: f64 = q.iter().sum();
    q.iter_mut().for_each(|x| *x /= s);
    q
}

// ---------------------------------------------------------------- world

#[derive(Clone, Debug)]
struct Product {
    code: u32,
    class: usize,
    department: usize,
    group: usize,
    division: usize,
    /// Whether `PROD_CODE_40` is written.
    division_known: bool,
    tier: usize,
    price_cents: u32,
}

#[derive(Clone, Debug)]
struct Customer {
    code: u32,
    sensitivity: usize,
    /// `CUST_PRICE_SENSITIVITY` as written: the class or `XX`.
    sensitivity_field: &'static str,
    lifestage: &'static str,
    home_store: usize,
}

#[derive(Clone, Debug)]
struct Store {
    code: u32,
    format: usize,
    region: usize,
    bias: Categorical,
}

/// The catalogue, customers and stores every week of a seed shares.
struct World {
    seed: u64,
    products: Vec<Product>,
    /// Products of each tier, and their popularity.
    tier_products: [Vec<usize>; 3],
    tier_pick: [Categorical; 3],
    customers: Vec<Customer>,
    customer_pick: Categorical,
    stores: Vec<Store>,
    /// Store choice of a shopper of each class: traffic x bias.
    store_pick: [Categorical; 3],
}

impl World {
    fn new(seed: u64) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(0);
        let rng = &mut rng;

        // Catalogue.
        let group_division = level_parents(rng, N_GROUPS, N_DIVISIONS);
        let department_group = level_parents(rng, N_DEPARTMENTS, N_GROUPS);
        let class_department = level_parents(rng, N_PRODUCT_CLASSES, N_DEPARTMENTS);
        let class_price: Vec<f64> = (0..N_PRODUCT_CLASSES)
            .map(|_| CLASS_MEDIAN_PRICE * (CLASS_PRICE_SD * normal(rng)).exp())
            .collect();
        let class_tiers: Vec<Categorical> = (0..N_PRODUCT_CLASSES)
            .map(|_| Categorical::new(tilt(TIER_SHARE, CLASS_TIER_TILT_SD * normal(rng))))
            .collect();
        let codes = sample_distinct(rng, N_PRODUCTS, PRODUCT_CODE_RANGE.0, PRODUCT_CODE_RANGE.1);
        let mut product_class: Vec<usize> =
            (0..N_PRODUCTS).map(|i| i % N_PRODUCT_CLASSES).collect();
        for c in product_class.iter_mut().skip(N_PRODUCT_CLASSES) {
            *c = rng.random_range(0..N_PRODUCT_CLASSES);
        }
        shuffle(rng, &mut product_class);
        let products: Vec<Product> = codes
            .iter()
            .zip(&product_class)
            .map(|(&code, &class)| {
                let department = class_department[class];
                let group = department_group[department];
                let tier = class_tiers[class].sample(rng);
                let price = class_price[class]
                    * TIER_PRICE_FACTOR[tier]
                    * (PRODUCT_PRICE_SD * normal(rng)).exp();
                Product {
                    code,
                    class,
                    department,
                    group,
                    division: group_division[group],
                    division_known: rng.random::<f64>() >= PRODUCT_NO_DIVISION_RATE,
                    tier,
                    price_cents: ((price * 100.0).round() as u32).max(5),
                }
            })
            .collect();
        let mut tier_products: [Vec<usize>; 3] = Default::default();
        for (i, p) in products.iter().enumerate() {
            tier_products[p.tier].push(i);
        }
        let tier_pick = std::array::from_fn(|t| {
            // Popularity rank in random order.
            let mut ranks: Vec<usize> = (1..=tier_products[t].len()).collect();
            shuffle(rng, &mut ranks);
            Categorical::new(ranks.iter().map(|&r| (r as f64).powf(-ZIPF_EXPONENT)))
        });

        // Stores.
        let store_codes = sample_distinct(rng, N_STORES, 1, STORE_CODE_MAX);
        let format_pick = Categorical::new(STORE_FORMATS.iter().map(|f| f.1));
        let mut traffic = Vec::with_capacity(N_STORES);
        let mut affluence = Vec::with_capacity(N_STORES);
        let mut formats = Vec::with_capacity(N_STORES);
        let mut regions = Vec::with_capacity(N_STORES);
        for _ in 0..N_STORES {
            let format = format_pick.sample(rng);
            let region = rng.random_range(0..REGION_AFFLUENCE.len());
            traffic.push(STORE_FORMATS[format].2 * (STORE_TRAFFIC_SD * normal(rng)).exp());
            affluence.push(
                REGION_AFFLUENCE[region].1
                    + FORMAT_AFFLUENCE[format]
                    + STORE_AFFLUENCE_SD * normal(rng),
            );
            formats.push(format);
            regions.push(region);
        }
        // Calibrate the untilted mix so that labels drawn from store biases
        // follow the population mix. A shopper of class j visits store s
        // with probability traffic[s] * bias[s][j] / Z_j, so the store-drawn
        // label is k with probability
        //   sum_j mix[j] sum_s traffic[s] bias[s][j] bias[s][k] / Z_j.
        let pi = CUSTOMER_SENSITIVITY_MIX;
        let mut base = pi;
        for _ in 0..50 {
            let biases: Vec<[f64; 3]> = affluence.iter().map(|&a| tilt(base, a)).collect();
            let mut mean = [0.0; 3];
            for (j, &pi_j) in pi.iter().enumerate() {
                let z: f64 = traffic.iter().zip(&biases).map(|(t, b)| t * b[j]).sum();
                for (t, b) in traffic.iter().zip(&biases) {
                    for k in 0..3 {
                        mean[k] += pi_j * t * b[j] * b[k] / z;
                    }
                }
            }
            for k in 0..3 {
                base[k] *= pi[k] / mean[k];
            }
        }
        let biases: Vec<[f64; 3]> = affluence.iter().map(|&a| tilt(base, a)).collect();
        let store_pick = std::array::from_fn(|k| {
            Categorical::new(traffic.iter().zip(&biases).map(|(t, b)| t * b[k]))
        });
        let stores: Vec<Store> = (0..N_STORES)
            .map(|s| Store {
                code: store_codes[s],
                format: formats[s],
                region: regions[s],
                bias: Categorical::new(biases[s]),
            })
            .collect();

        // Customers: sensitivities in exact proportions, shuffled.
        let customer_codes = sample_distinct(rng, N_CUSTOMERS, 1, 999_999);
        let mut sensitivities = Vec::with_capacity(N_CUSTOMERS);
        let mut acc = 0.0;
        for (k, share) in CUSTOMER_SENSITIVITY_MIX.iter().enumerate() {
            acc += share;
            let upto = if k == 2 {
                N_CUSTOMERS
            } else {
                (acc * N_CUSTOMERS as f64).round() as usize
            };
            sensitivities.resize(upto.max(sensitivities.len()), k);
        }
        shuffle(rng, &mut sensitivities);
        let lifestage_pick = Categorical::new(LIFESTAGE_MIX.iter().map(|l| l.1));
        let mut loyalty = Vec::with_capacity(N_CUSTOMERS);
        let customers: Vec<Customer> = customer_codes
            .iter()
            .zip(&sensitivities)
            .map(|(&code, &sensitivity)| {
                loyalty.push((CUSTOMER_LOYALTY_SD * normal(rng)).exp());
                let sensitivity_field = if rng.random::<f64>() < CUSTOMER_XX_SENSITIVITY_RATE {
                    "XX"
                } else {
                    CLASSES[sensitivity]
                };
                let u = rng.random::<f64>();
                let lifestage = if u < CUSTOMER_NO_LIFESTAGE_RATE {
                    ""
                } else if u < CUSTOMER_NO_LIFESTAGE_RATE + CUSTOMER_XX_LIFESTAGE_RATE {
                    "XX"
                } else {
                    LIFESTAGE_MIX[lifestage_pick.sample(rng)].0
                };
                Customer {
                    code,
                    sensitivity,
                    sensitivity_field,
                    lifestage,
                    home_store: store_pick[sensitivity].sample(rng),
                }
            })
            .collect();
        let customer_pick = Categorical::new(loyalty);

        World {
            seed,
            products,
            tier_products,
            tier_pick,
            customers,
            customer_pick,
            stores,
            store_pick,
        }
    }

    /// One week's file and its counts.
    fn week(&self, config: &SynthConfig, week_index: usize) -> (Vec<u8>, WeekStats) {
        config
            .validate()
            .unwrap_or_else(|e| panic!("invalid synth configuration: {e}"));
        let ord = week_ordinal(config.first_week).expect("validated") + week_index as u64;
        let shop_week = week_from_ordinal(ord);
        let monday = week_monday(ord);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(1 + ord);
        let rng = &mut rng;

        let population = Categorical::new(CUSTOMER_SENSITIVITY_MIX);
        let size_pick = Categorical::new(BASKET_SIZES.iter().map(|s| s.1));
        let type_pick: [Categorical; 3] =
            std::array::from_fn(|s| Categorical::new(TYPE_GIVEN_SIZE[s]));
        let tier_pick: [Categorical; 3] =
            std::array::from_fn(|k| Categorical::new(TIER_GIVEN_LABEL[k]));
        let quantity_pick = Categorical::new(QUANTITY_WEIGHTS.iter().map(|q| q.1));
        let weekday_pick = Categorical::new(WEEKDAY_WEIGHTS);
        let hour_pick = Categorical::new(HOUR_WEIGHTS);
        let id_base = BASKET_ID_BASE + (ord % 100_000) * MAX_BASKETS_PER_WEEK as u64;

        let mut baskets = Vec::with_capacity(config.baskets_per_week);
        let mut labels = [0usize; 4];
        for b in 0..config.baskets_per_week {
            let customer =
                (rng.random::<f64>() >= ANONYMOUS_RATE).then(|| self.customer_pick.sample(rng));
            let sensitivity = match customer {
                Some(c) => self.customers[c].sensitivity,
                None => population.sample(rng),
            };
            let store = match customer {
                Some(c) if rng.random::<f64>() < HOME_STORE_RATE => self.customers[c].home_store,
                _ => self.store_pick[sensitivity].sample(rng),
            };
            let label = if rng.random::<f64>() < LABEL_FOLLOWS_CUSTOMER {
                sensitivity
            } else {
                self.stores[store].bias.sample(rng)
            };
            let size = size_pick.sample(rng);
            let (_, _, lo, hi) = BASKET_SIZES[size];
            let n_lines = rng.random_range(lo..=hi);
            let basket_type = type_pick[size].sample(rng);
            let day = monday + weekday_pick.sample(rng) as i64;
            let hour = FIRST_HOUR + hour_pick.sample(rng) as u32;

            let mut lines: Vec<(usize, u32, u64)> = Vec::with_capacity(n_lines);
            let mut mission_spend = [0u64; 3];
            for _ in 0..n_lines {
                // Redraw a product already in the basket a few times.
                let mut product = 0;
                for _ in 0..8 {
                    let tier = tier_pick[label].sample(rng);
                    product = self.tier_products[tier][self.tier_pick[tier].sample(rng)];
                    if !lines.iter().any(|l| l.0 == product) {
                        break;
                    }
                }
                let quantity = QUANTITY_WEIGHTS[quantity_pick.sample(rng)].0;
                let noise = rng.random_range(SPEND_NOISE.0..SPEND_NOISE.1);
                let p = &self.products[product];
                let spend =
                    ((quantity as f64 * p.price_cents as f64 * noise).round() as u64).max(1);
                mission_spend[DIVISION_MISSION[p.division]] += spend;
                lines.push((product, quantity, spend));
            }
            let total: u64 = mission_spend.iter().sum();
            let (best, best_spend) = mission_spend
                .iter()
                .enumerate()
                .max_by_key(|&(i, &s)| (s, std::cmp::Reverse(i)))
                .expect("three missions");
            let mission = if *best_spend as f64 >= MISSION_DOMINANCE * total as f64 {
                best
            } else {
                3
            };
            let label_field = if rng.random::<f64>() < BASKET_XX_LABEL_RATE {
                labels[3] += 1;
                "XX"
            } else {
                labels[label] += 1;
                CLASSES[label]
            };
            let xx_type = rng.random::<f64>() < BASKET_XX_TYPE_RATE;
            baskets.push(Basket {
                id: id_base + b as u64,
                customer,
                store,
                day,
                hour,
                size,
                label_field,
                basket_type: if xx_type {
                    "XX"
                } else {
                    BASKET_TYPES[basket_type]
                },
                mission: if xx_type { "XX" } else { MISSIONS[mission] },
                lines,
            });
        }
        // The real files are ordered by store.
        baskets.sort_by_key(|b| (self.stores[b.store].code, b.day, b.hour, b.id));

        let rows: usize = baskets.iter().map(|b| b.lines.len()).sum();
        let mut out = String::with_capacity(160 * (rows + 1));
        out.push_str(HEADER);
        out.push_str("\r\n");
        for b in &baskets {
            self.write_basket(&mut out, shop_week, b);
        }
        let bytes = out.into_bytes();
        let stats = WeekStats {
            shop_week,
            file_name: format!("transactions_{shop_week}.csv"),
            rows,
            baskets: baskets.len(),
            labels,
            bytes: bytes.len(),
        };
        (bytes, stats)
    }

    fn write_basket(&self, out: &mut String, shop_week: u32, b: &Basket) {
        let (y, m, d) = civil_from_days(b.day);
        let weekday = dunnhumby_weekday(b.day);
        let store = &self.stores[b.store];
        let (cust_code, cust_sens, lifestage) = match b.customer {
            Some(c) => {
                let c = &self.customers[c];
                (
                    format!("CUST{:010}", c.code),
                    c.sensitivity_field,
                    c.lifestage,
                )
            }
            None => (String::new(), "", ""),
        };
        for &(product, quantity, spend) in &b.lines {
            let p = &self.products[product];
            let division = if p.division_known {
                format!("D{:05}", p.division + 1)
            } else {
                String::new()
            };
            write!(
                out,
                "{shop_week},{y:04}{m:02}{d:02},{weekday},{hour},{quantity},{}.{:02},PRD{:07},CL{:05},DEP{:05},G{:05},{division},{cust_code},{cust_sens},{lifestage},{id},{size},{label},{btype},{mission},STORE{:05},{},{}\r\n",
                spend / 100,
                spend % 100,
                p.code,
                p.class + 1,
                p.department + 1,
                p.group + 1,
                store.code,
                STORE_FORMATS[store.format].0,
                REGION_AFFLUENCE[store.region].0,
                hour = b.hour,
                id = b.id,
                size = BASKET_SIZES[b.size].0,
                label = b.label_field,
                btype = b.basket_type,
                mission = b.mission,
            )
            .expect("writing to a String cannot fail");
        }
    }
}

struct Basket {
    id: u64,
    customer: Option<usize>,
    store: usize,
    day: i64,
    hour: u32,
    size: usize,
    label_field: &'static str,
    basket_type: &'static str,
    mission: &'static str,
    /// (product index, quantity, spend in cents).
    lines: Vec<(usize, u32, u64)>,
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    /// The header of `../shared/data/dunnhumby/transactions_200607.csv`.
    const REAL_HEADER: &str = "SHOP_WEEK,SHOP_DATE,SHOP_WEEKDAY,SHOP_HOUR,QUANTITY,SPEND,PROD_CODE,PROD_CODE_10,PROD_CODE_20,PROD_CODE_30,PROD_CODE_40,CUST_CODE,CUST_PRICE_SENSITIVITY,CUST_LIFESTAGE,BASKET_ID,BASKET_SIZE,BASKET_PRICE_SENSITIVITY,BASKET_TYPE,BASKET_DOMINANT_MISSION,STORE_CODE,STORE_FORMAT,STORE_REGION";

    // Column indices.
    const WEEK: usize = 0;
    const DATE: usize = 1;
    const WEEKDAY: usize = 2;
    const HOUR: usize = 3;
    const QTY: usize = 4;
    const SPEND: usize = 5;
    const PROD: usize = 6;
    const D40: usize = 10;
    const CUST: usize = 11;
    const CUST_SENS: usize = 12;
    const LIFESTAGE: usize = 13;
    const BASKET_ID: usize = 14;
    const LABEL: usize = 16;
    const BTYPE: usize = 17;
    const MISSION: usize = 18;

    fn config(seed: u64, weeks: usize, baskets: usize) -> SynthConfig {
        SynthConfig {
            seed,
            weeks,
            baskets_per_week: baskets,
            first_week: ANCHOR_WEEK,
        }
    }

    /// Data rows of a file, checking CRLF endings on the way.
    fn rows(bytes: &[u8]) -> Vec<Vec<String>> {
        let text = std::str::from_utf8(bytes).expect("UTF-8");
        assert!(text.ends_with("\r\n"));
        let lines: Vec<&str> = text[..text.len() - 2].split("\r\n").collect();
        assert!(lines.iter().all(|l| !l.contains('\n') && !l.contains('\r')));
        assert_eq!(lines[0], REAL_HEADER);
        lines[1..]
            .iter()
            .map(|l| l.split(',').map(String::from).collect())
            .collect()
    }

    fn code(s: &str, prefix: &str, digits: usize) -> bool {
        s.len() == prefix.len() + digits
            && s.starts_with(prefix)
            && s[prefix.len()..].bytes().all(|b| b.is_ascii_digit())
    }

    fn all_rows(cfg: &SynthConfig) -> Vec<Vec<String>> {
        (0..cfg.weeks)
            .flat_map(|w| rows(&generate_week(cfg, w)))
            .collect()
    }

    /// Rows grouped by BASKET_ID, in first-seen order.
    fn baskets(rows: &[Vec<String>]) -> Vec<Vec<&Vec<String>>> {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut out: Vec<Vec<&Vec<String>>> = Vec::new();
        for r in rows {
            let i = *index.entry(&r[BASKET_ID]).or_insert_with(|| {
                out.push(Vec::new());
                out.len() - 1
            });
            out[i].push(r);
        }
        out
    }

    #[test]
    fn header_and_line_endings_match_the_real_file() {
        assert_eq!(HEADER, REAL_HEADER);
        assert_eq!(HEADER.split(',').count(), N_COLUMNS);
        let bytes = generate_week(&config(1, 1, 50), 0);
        assert!(bytes.starts_with(format!("{REAL_HEADER}\r\n").as_bytes()));
        let crlf = bytes.windows(2).filter(|w| w == b"\r\n").count();
        let lf = bytes.iter().filter(|&&b| b == b'\n').count();
        assert_eq!(crlf, lf);
        assert_eq!(rows(&bytes).len() + 1, lf);
    }

    #[test]
    fn every_row_has_22_fields_in_the_real_formats() {
        let cfg = config(7, 2, 400);
        let rows = all_rows(&cfg);
        assert!(rows.len() > 2 * 400);
        let regions: HashSet<&str> = REGION_AFFLUENCE.iter().map(|r| r.0).collect();
        assert_eq!(regions.len(), 12);
        for r in &rows {
            assert_eq!(r.len(), N_COLUMNS, "{r:?}");
            assert!(r[WEEK] == "200607" || r[WEEK] == "200608", "{r:?}");
            assert!(code(&r[DATE], "", 8));
            let wd: u32 = r[WEEKDAY].parse().unwrap();
            assert!((1..=7).contains(&wd));
            let hour: u32 = r[HOUR].parse().unwrap();
            assert!((8..=21).contains(&hour));
            assert!(r[QTY].parse::<u32>().unwrap() >= 1);
            let (units, cents) = r[SPEND].split_once('.').expect("two decimals");
            assert!(code(units, "", units.len()) && !units.is_empty());
            assert!(code(cents, "", 2));
            assert!(r[SPEND].parse::<f64>().unwrap() > 0.0);
            assert!(code(&r[PROD], "PRD", 7) && r[PROD].starts_with("PRD090"));
            assert!(code(&r[7], "CL", 5));
            assert!(code(&r[8], "DEP", 5));
            assert!(code(&r[9], "G", 5));
            assert!(r[D40].is_empty() || code(&r[D40], "D", 5));
            assert!(r[CUST].is_empty() || code(&r[CUST], "CUST", 10));
            assert!(["", "LA", "MM", "UM", "XX"].contains(&r[CUST_SENS].as_str()));
            assert!(["", "YA", "OA", "YF", "OF", "PE", "OT", "XX"].contains(&r[LIFESTAGE].as_str()));
            assert!(code(&r[BASKET_ID], "", 15) && !r[BASKET_ID].starts_with('0'));
            assert!(["S", "M", "L"].contains(&r[15].as_str()));
            assert!(["LA", "MM", "UM", "XX"].contains(&r[LABEL].as_str()));
            assert!(["Small Shop", "Top Up", "Full Shop", "XX"].contains(&r[BTYPE].as_str()));
            assert!(["Fresh", "Grocery", "Mixed", "Nonfood", "XX"].contains(&r[MISSION].as_str()));
            assert!(code(&r[19], "STORE", 5));
            assert!(["LS", "MS", "SS", "XLS"].contains(&r[20].as_str()));
            assert!(regions.contains(r[21].as_str()));
            // Anonymous baskets have no customer fields at all.
            if r[CUST].is_empty() {
                assert!(r[CUST_SENS].is_empty() && r[LIFESTAGE].is_empty());
            } else {
                assert!(!r[CUST_SENS].is_empty());
            }
        }
        // The hierarchy is a tree: each code has one parent.
        for (child, parent) in [(6, 7), (7, 8), (8, 9)] {
            let mut up: HashMap<&str, &str> = HashMap::new();
            for r in &rows {
                let p = up.entry(&r[child]).or_insert(&r[parent]);
                assert_eq!(*p, r[parent].as_str());
            }
        }
    }

    #[test]
    fn calendar_matches_dunnhumby() {
        // The real file: 20060413 is weekday 5, 20060416 weekday 1 (Sunday),
        // week 200607 runs Monday 20060410 .. Sunday 20060416.
        assert_eq!(dunnhumby_weekday(days_from_civil(2006, 4, 13)), 5);
        assert_eq!(dunnhumby_weekday(days_from_civil(2006, 4, 16)), 1);
        assert_eq!(dunnhumby_weekday(days_from_civil(2006, 4, 10)), 2);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for z in -800_000..800_000 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        let ord = week_ordinal(200_607).unwrap();
        assert_eq!(civil_from_days(week_monday(ord)), (2006, 4, 10));
        // Week 52 is followed by week 01 of the next year, seven days later.
        let cfg = SynthConfig {
            first_week: 200_651,
            ..config(0, 3, 1)
        };
        assert_eq!(
            (0..3).map(|i| cfg.shop_week(i)).collect::<Vec<_>>(),
            [200_651, 200_652, 200_701]
        );
        assert_eq!(cfg.file_name(2), "transactions_200701.csv");
        let o = week_ordinal(200_652).unwrap();
        assert_eq!(week_monday(o + 1) - week_monday(o), 7);
        assert!(week_ordinal(200_653).is_err() && week_ordinal(200_600).is_err());

        // Every row's date falls in its shop week and its weekday fits.
        let rows = all_rows(&SynthConfig {
            first_week: 200_651,
            ..config(3, 3, 300)
        });
        for r in &rows {
            let date: u32 = r[DATE].parse().unwrap();
            let day = days_from_civil((date / 10_000) as i64, date / 100 % 100, date % 100);
            let monday = week_monday(week_ordinal(r[WEEK].parse().unwrap()).unwrap());
            assert!((monday..monday + 7).contains(&day), "{r:?}");
            assert_eq!(dunnhumby_weekday(day).to_string(), r[WEEKDAY]);
        }
    }

    #[test]
    fn same_seed_same_bytes_whatever_the_threads() {
        let cfg = config(42, 3, 300);
        let a = generate_week(&cfg, 1);
        assert_eq!(a, generate_week(&cfg, 1));
        assert_ne!(a, generate_week(&config(43, 3, 300), 1));
        assert_ne!(a, generate_week(&cfg, 0));
        // A week's content depends on its shop week, not its place in the run.
        let later = SynthConfig {
            first_week: 200_608,
            ..cfg.clone()
        };
        assert_eq!(a, generate_week(&later, 0));

        let run = |threads: usize| {
            let files = std::sync::Mutex::new(Vec::new());
            let summary = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    generate(
                        &cfg,
                        |name, bytes| {
                            files.lock().unwrap().push((name.to_string(), bytes));
                            Ok::<(), ()>(())
                        },
                        |_| {},
                    )
                })
                .unwrap();
            let mut files = files.into_inner().unwrap();
            files.sort();
            (summary, files)
        };
        let (s1, f1) = run(1);
        let (s2, f2) = run(2);
        assert_eq!(s1, s2);
        assert_eq!(f1, f2);
        assert_eq!(f1[1].1, a);
        assert_eq!(s1.baskets(), 900);
        assert_eq!(s1.labels().iter().sum::<usize>(), 900);
        assert_eq!(
            s1.rows(),
            f1.iter().map(|f| rows(&f.1).len()).sum::<usize>()
        );
        assert_eq!(
            f1.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
            [
                "transactions_200607.csv",
                "transactions_200608.csv",
                "transactions_200609.csv"
            ]
        );
        // Errors from the writer come back.
        assert_eq!(
            generate(&cfg, |_, _| Err("disk full"), |_| {}),
            Err("disk full")
        );
    }

    #[test]
    fn invalid_configurations_are_rejected() {
        assert!(config(0, 1, 1).validate().is_ok());
        assert_eq!(config(0, 1, 0).validate(), Err(SynthError::BadBaskets(0)));
        let bad_week = SynthConfig {
            first_week: 200_653,
            ..config(0, 1, 1)
        };
        assert_eq!(bad_week.validate(), Err(SynthError::BadWeek(200_653)));
        let too_long = SynthConfig {
            first_week: 999_952,
            ..config(0, 2, 1)
        };
        assert_eq!(too_long.validate(), Err(SynthError::TooManyWeeks));
    }

    #[test]
    fn basket_ids_identify_baskets() {
        let rows = all_rows(&config(5, 3, 500));
        let groups = baskets(&rows);
        assert_eq!(groups.len(), 3 * 500);
        let mut seen_end = HashSet::new();
        let mut prev: Option<&str> = None;
        for r in &rows {
            // Lines of a basket are contiguous.
            if prev != Some(r[BASKET_ID].as_str()) {
                assert!(
                    seen_end.insert(r[BASKET_ID].as_str()),
                    "basket split: {r:?}"
                );
            }
            prev = Some(&r[BASKET_ID]);
        }
        for g in &groups {
            let first = g[0];
            for r in g {
                for col in [0, 1, 2, 3, 11, 12, 13, 15, 16, 17, 18, 19, 20, 21] {
                    assert_eq!(r[col], first[col], "column {col} varies in a basket");
                }
            }
            let size = g.len();
            let expect = match first[15].as_str() {
                "S" => 1..=5,
                "M" => 6..=15,
                _ => 16..=40,
            };
            assert!(
                expect.contains(&size),
                "{} lines in a {} basket",
                size,
                first[15]
            );
        }
    }

    #[test]
    fn gaps_and_unknowns_at_plausible_rates() {
        let rows = all_rows(&config(11, 4, 1000));
        let groups = baskets(&rows);
        let n = groups.len() as f64;
        let rate =
            |f: &dyn Fn(&Vec<String>) -> bool| groups.iter().filter(|g| f(g[0])).count() as f64 / n;
        let anonymous = rate(&|r| r[CUST].is_empty());
        assert!((0.17..0.23).contains(&anonymous), "anonymous {anonymous}");
        let known = 1.0 - anonymous;
        let no_lifestage = rate(&|r| !r[CUST].is_empty() && r[LIFESTAGE].is_empty()) / known;
        assert!(
            (0.05..0.25).contains(&no_lifestage),
            "no lifestage {no_lifestage}"
        );
        let xx_sens = rate(&|r| r[CUST_SENS] == "XX") / known;
        assert!((0.001..0.03).contains(&xx_sens), "XX sensitivity {xx_sens}");
        let xx_label = rate(&|r| r[LABEL] == "XX");
        assert!((0.0..0.008).contains(&xx_label), "XX label {xx_label}");
        let xx_type = rate(&|r| r[BTYPE] == "XX");
        assert!((0.001..0.015).contains(&xx_type), "XX type {xx_type}");
        assert!(groups
            .iter()
            .all(|g| (g[0][BTYPE] == "XX") == (g[0][MISSION] == "XX")));
        let no_d40 = rows.iter().filter(|r| r[D40].is_empty()).count() as f64 / rows.len() as f64;
        assert!(
            (0.003..0.06).contains(&no_d40),
            "empty PROD_CODE_40 {no_d40}"
        );
        // Over 40 weeks XX labels do appear.
        let labels = generate(&config(11, 40, 1000), |_, _| Ok::<(), ()>(()), |_| {})
            .unwrap()
            .labels();
        assert!(labels[3] > 0, "{labels:?}");
        // Customers come back across weeks.
        let customers: HashSet<&str> = rows.iter().map(|r| r[CUST].as_str()).collect();
        assert!(customers.len() < N_CUSTOMERS + 1);
        assert!(customers.len() > N_CUSTOMERS / 2);
    }

    #[test]
    fn class_mix_by_basket_is_near_target() {
        let summary = generate(&config(2024, 8, 1000), |_, _| Ok::<(), ()>(()), |_| {}).unwrap();
        let labels = summary.labels();
        let known = (labels[0] + labels[1] + labels[2]) as f64;
        for (k, target) in [0.25, 0.46, 0.28].iter().enumerate() {
            let share = labels[k] as f64 / known;
            assert!(
                (share - target).abs() < 0.03,
                "{}: {share} vs {target}",
                CLASSES[k]
            );
        }
        let seeds: Vec<[usize; 4]> = (0..4)
            .map(|s| {
                generate(&config(s, 2, 1000), |_, _| Ok::<(), ()>(()), |_| {})
                    .unwrap()
                    .labels()
            })
            .collect();
        for l in seeds {
            let n = (l[0] + l[1] + l[2]) as f64;
            assert!((l[1] as f64 / n - 0.46).abs() < 0.05, "{l:?}");
        }
    }

    #[test]
    fn the_planted_relation_is_there() {
        let cfg = config(9, 4, 1000);
        let world = World::new(cfg.seed);
        let tier: HashMap<String, usize> = world
            .products
            .iter()
            .map(|p| (format!("PRD{:07}", p.code), p.tier))
            .collect();
        let rows = all_rows(&cfg);
        // Premium share of spend per basket, averaged per label.
        let mut premium = [0.0f64; 3];
        let mut budget = [0.0f64; 3];
        let mut count = [0usize; 3];
        let mut customer_agrees = [0usize; 2];
        for g in baskets(&rows) {
            let Some(k) = CLASSES.iter().position(|c| *c == g[0][LABEL]) else {
                continue;
            };
            let mut by_tier = [0.0; 3];
            for r in &g {
                by_tier[tier[&r[PROD]]] += r[SPEND].parse::<f64>().unwrap();
            }
            let total: f64 = by_tier.iter().sum();
            premium[k] += by_tier[2] / total;
            budget[k] += by_tier[0] / total;
            count[k] += 1;
            if ["LA", "MM", "UM"].contains(&g[0][CUST_SENS].as_str()) {
                customer_agrees[0] += usize::from(g[0][CUST_SENS] == g[0][LABEL]);
                customer_agrees[1] += 1;
            }
        }
        let premium: Vec<f64> = (0..3).map(|k| premium[k] / count[k] as f64).collect();
        let budget: Vec<f64> = (0..3).map(|k| budget[k] / count[k] as f64).collect();
        assert!(
            premium[0] < 0.2 && premium[2] > 0.55,
            "premium share {premium:?}"
        );
        assert!(premium[0] < premium[1] && premium[1] < premium[2]);
        assert!(
            budget[0] > 0.4 && budget[2] < 0.15,
            "budget share {budget:?}"
        );
        let agree = customer_agrees[0] as f64 / customer_agrees[1] as f64;
        assert!((0.72..0.88).contains(&agree), "customer agrees {agree}");
    }
}
