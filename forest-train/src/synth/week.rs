//! One week's file: baskets drawn from the world by the planted relation
//! (shopper, store, label, then lines by the label's tier mix), ordered by
//! store as the real files are, and written as CSV bytes in the raw
//! layout. Each week draws from its own stream, derived from the absolute
//! shop week, so its bytes do not depend on its place in the run.

use std::fmt::Write as _;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::calendar::{
    civil_from_days, dunnhumby_weekday, week_from_ordinal, week_monday, week_ordinal,
};
use super::sampling::Categorical;
use super::world::World;
use super::{
    SynthConfig, WeekStats, ANONYMOUS_RATE, BASKET_ID_BASE, BASKET_SIZES, BASKET_TYPES,
    BASKET_XX_LABEL_RATE, BASKET_XX_TYPE_RATE, CLASSES, CUSTOMER_SENSITIVITY_MIX, DIVISION_MISSION,
    FIRST_HOUR, HEADER, HOME_STORE_RATE, HOUR_WEIGHTS, LABEL_FOLLOWS_CUSTOMER,
    MAX_BASKETS_PER_WEEK, MISSIONS, MISSION_DOMINANCE, QUANTITY_WEIGHTS, REGION_AFFLUENCE,
    SPEND_NOISE, STORE_FORMATS, TIER_GIVEN_LABEL, TYPE_GIVEN_SIZE, WEEKDAY_WEIGHTS,
};

impl World {
    /// One week's file and its counts.
    pub(super) fn week(&self, config: &SynthConfig, week_index: usize) -> (Vec<u8>, WeekStats) {
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
        let size_pick = match config.size_mix {
            Some(mix) => Categorical::new(mix.map(f64::from)),
            None => Categorical::new(BASKET_SIZES.iter().map(|s| s.1)),
        };
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

    use crate::synth::tests::{
        all_rows, baskets, code, config, rows, BASKET_ID, BTYPE, CUST, CUST_SENS, D40, DATE, HOUR,
        LABEL, LIFESTAGE, MISSION, PROD, QTY, REAL_HEADER, SPEND, WEEK, WEEKDAY,
    };
    use crate::synth::{generate_week, HEADER, N_COLUMNS, REGION_AFFLUENCE};

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
}
