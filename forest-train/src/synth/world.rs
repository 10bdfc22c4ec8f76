//! The world a seed fixes and every week shares: the product catalogue
//! (hierarchy, price tier, unit price, popularity within the tier), the
//! stores (format, region, traffic, and a bias of the class mix tilted by
//! their affluence) and the known customers (sensitivity, lifestage,
//! loyalty, home store). It is drawn from stream 0 of the seed, so it does
//! not depend on which weeks are generated.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::sampling::{level_parents, normal, sample_distinct, shuffle, tilt, Categorical};
use super::{
    CLASSES, CLASS_MEDIAN_PRICE, CLASS_PRICE_SD, CLASS_TIER_TILT_SD, CUSTOMER_LOYALTY_SD,
    CUSTOMER_NO_LIFESTAGE_RATE, CUSTOMER_SENSITIVITY_MIX, CUSTOMER_XX_LIFESTAGE_RATE,
    CUSTOMER_XX_SENSITIVITY_RATE, FORMAT_AFFLUENCE, LIFESTAGE_MIX, N_CUSTOMERS, N_DEPARTMENTS,
    N_DIVISIONS, N_GROUPS, N_PRODUCTS, N_PRODUCT_CLASSES, N_STORES, PRODUCT_CODE_RANGE,
    PRODUCT_NO_DIVISION_RATE, PRODUCT_PRICE_SD, REGION_AFFLUENCE, STORE_AFFLUENCE_SD,
    STORE_CODE_MAX, STORE_FORMATS, STORE_TRAFFIC_SD, TIER_PRICE_FACTOR, TIER_SHARE, ZIPF_EXPONENT,
};

#[derive(Clone, Debug)]
pub(super) struct Product {
    pub(super) code: u32,
    pub(super) class: usize,
    pub(super) department: usize,
    pub(super) group: usize,
    pub(super) division: usize,
    /// Whether `PROD_CODE_40` is written.
    pub(super) division_known: bool,
    pub(super) tier: usize,
    pub(super) price_cents: u32,
}

#[derive(Clone, Debug)]
pub(super) struct Customer {
    pub(super) code: u32,
    pub(super) sensitivity: usize,
    /// `CUST_PRICE_SENSITIVITY` as written: the class or `XX`.
    pub(super) sensitivity_field: &'static str,
    pub(super) lifestage: &'static str,
    pub(super) home_store: usize,
}

#[derive(Clone, Debug)]
pub(super) struct Store {
    pub(super) code: u32,
    pub(super) format: usize,
    pub(super) region: usize,
    pub(super) bias: Categorical,
}

/// The catalogue, customers and stores every week of a seed shares.
pub(super) struct World {
    pub(super) seed: u64,
    pub(super) products: Vec<Product>,
    /// Products of each tier, and their popularity.
    pub(super) tier_products: [Vec<usize>; 3],
    pub(super) tier_pick: [Categorical; 3],
    pub(super) customers: Vec<Customer>,
    pub(super) customer_pick: Categorical,
    pub(super) stores: Vec<Store>,
    /// Store choice of a shopper of each class: traffic x bias.
    pub(super) store_pick: [Categorical; 3],
}

impl World {
    pub(super) fn new(seed: u64) -> World {
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
}
