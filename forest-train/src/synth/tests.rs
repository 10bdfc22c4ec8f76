//! Fixtures shared by the generator's tests (a configuration, a file's
//! rows checked for CRLF, rows grouped by basket, the column indices) and
//! the tests of the generator as a whole: determinism, configuration
//! checks, gap rates, the class mix and the planted relation. Tests of one
//! part sit in its module.

use std::collections::{HashMap, HashSet};

use super::*;

/// The header of `../shared/data/dunnhumby/transactions_200607.csv`.
pub(super) const REAL_HEADER: &str = "SHOP_WEEK,SHOP_DATE,SHOP_WEEKDAY,SHOP_HOUR,QUANTITY,SPEND,PROD_CODE,PROD_CODE_10,PROD_CODE_20,PROD_CODE_30,PROD_CODE_40,CUST_CODE,CUST_PRICE_SENSITIVITY,CUST_LIFESTAGE,BASKET_ID,BASKET_SIZE,BASKET_PRICE_SENSITIVITY,BASKET_TYPE,BASKET_DOMINANT_MISSION,STORE_CODE,STORE_FORMAT,STORE_REGION";

// Column indices.
pub(super) const WEEK: usize = 0;
pub(super) const DATE: usize = 1;
pub(super) const WEEKDAY: usize = 2;
pub(super) const HOUR: usize = 3;
pub(super) const QTY: usize = 4;
pub(super) const SPEND: usize = 5;
pub(super) const PROD: usize = 6;
pub(super) const D40: usize = 10;
pub(super) const CUST: usize = 11;
pub(super) const CUST_SENS: usize = 12;
pub(super) const LIFESTAGE: usize = 13;
pub(super) const BASKET_ID: usize = 14;
pub(super) const LABEL: usize = 16;
pub(super) const BTYPE: usize = 17;
pub(super) const MISSION: usize = 18;

pub(super) fn config(seed: u64, weeks: usize, baskets: usize) -> SynthConfig {
    SynthConfig {
        seed,
        weeks,
        baskets_per_week: baskets,
        first_week: ANCHOR_WEEK,
        size_mix: None,
    }
}

/// Data rows of a file, checking CRLF endings on the way.
pub(super) fn rows(bytes: &[u8]) -> Vec<Vec<String>> {
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

pub(super) fn code(s: &str, prefix: &str, digits: usize) -> bool {
    s.len() == prefix.len() + digits
        && s.starts_with(prefix)
        && s[prefix.len()..].bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn all_rows(cfg: &SynthConfig) -> Vec<Vec<String>> {
    (0..cfg.weeks)
        .flat_map(|w| rows(&generate_week(cfg, w)))
        .collect()
}

/// Rows grouped by BASKET_ID, in first-seen order.
pub(super) fn baskets(rows: &[Vec<String>]) -> Vec<Vec<&Vec<String>>> {
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
