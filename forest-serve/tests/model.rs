//! A small basket model built from `forest-core` types, so the tests need
//! neither the trainer nor a committed artifact: random trees over the real
//! basket encoder's features, with priors for a handful of real-looking
//! product codes.

use forest_core::splitmix::SplitMix64;
use forest_core::tags::TagModel;
use forest_core::{
    Basket, BasketPriors, FeatureKind, FeatureSpec, Forest, Item, Metadata, Model, Node,
    TrainingInfo,
};
use forest_core::{PriorLevel, ProductLevel};

/// Deterministic inputs: forest-core's SplitMix64, plus a picker.
pub type Rng = SplitMix64;

/// One of `items`, uniformly.
pub fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[rng.below(items.len())]
}

pub const CLASSES: [&str; 3] = ["LA", "MM", "UM"];
const STORE_FORMATS: [&str; 4] = ["LS", "MS", "SS", "XLS"];
const REGIONS: [&str; 5] = ["E01", "E02", "N01", "S03", "W09"];
const SIZES: [&str; 3] = ["L", "M", "S"];
const TYPES: [&str; 3] = ["Full Shop", "Small Shop", "Top Up"];
const MISSIONS: [&str; 4] = ["Fresh", "Grocery", "Mixed", "Nonfood"];
/// Products known to the model: (PROD_CODE, _10, _20, _30, _40).
pub const PRODUCTS: [[&str; 5]; 6] = [
    ["PRD0900097", "CL00001", "DEP00001", "G00001", "D00001"],
    ["PRD0900121", "CL00063", "DEP00019", "G00007", "D00002"],
    ["PRD0901265", "CL00144", "DEP00052", "G00015", "D00003"],
    ["PRD0900353", "CL00001", "DEP00001", "G00001", "D00001"],
    ["PRD0903052", "CL00229", "DEP00081", "G00027", "D00008"],
    ["PRD0904358", "CL00063", "DEP00019", "G00007", "D00002"],
];

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn priors(rng: &mut Rng) -> BasketPriors {
    let levels = ProductLevel::CHAIN
        .iter()
        .enumerate()
        .map(|(i, &level)| {
            // Column 4 - i of PRODUCTS is this level (CHAIN is coarse to fine).
            let mut codes: Vec<String> = PRODUCTS.iter().map(|p| p[4 - i].to_string()).collect();
            codes.sort();
            codes.dedup();
            let counts = (0..codes.len() * 3)
                .map(|_| rng.below(40) as f32)
                .collect::<Vec<_>>();
            let log_price = codes
                .iter()
                .map(|_| Some((rng.unit() * 2.0 - 0.5) as f32))
                .collect();
            let tags = (0..codes.len())
                .flat_map(|_| {
                    let raw: Vec<f64> = (0..3).map(|_| rng.unit() + 0.01).collect();
                    let sum: f64 = raw.iter().sum();
                    raw.into_iter().map(move |v| (v / sum) as f32)
                })
                .collect();
            PriorLevel {
                level,
                codes,
                counts,
                log_price,
                tags,
                parents: Vec::new(),
            }
        })
        .collect();
    BasketPriors {
        global: vec![0.3, 0.45, 0.25],
        smoothing: 10.0,
        global_log_price: 0.4,
        levels,
        tags: Some(TagModel {
            threshold: 0.21,
            global: vec![0.25, 0.5, 0.25],
            segments: strings(&["LA", "MM", "UM"]),
            segment_likelihood: vec![2.0, 1.0, 0.5, 1.0, 1.5, 1.0, 0.5, 1.0, 2.0],
        }),
    }
}

fn random_tree(rng: &mut Rng, spec: &FeatureSpec, max_depth: usize) -> Vec<Node> {
    fn dist(rng: &mut Rng) -> Vec<f32> {
        let raw: Vec<f64> = (0..3).map(|_| rng.unit() + 0.05).collect();
        let sum: f64 = raw.iter().sum();
        raw.iter().map(|v| (v / sum) as f32).collect()
    }
    fn grow(
        rng: &mut Rng,
        spec: &FeatureSpec,
        nodes: &mut Vec<Node>,
        at: usize,
        depth: usize,
        max_depth: usize,
    ) {
        if depth == max_depth || (depth > 1 && rng.unit() < 0.2) {
            nodes[at] = Node::leaf(at as u32, dist(rng));
            return;
        }
        let f = rng.below(spec.features.len());
        let threshold = match &spec.features[f].kind {
            FeatureKind::Categorical { vocabulary } => rng.below(vocabulary.len() + 1) as f32 + 0.5,
            FeatureKind::Numeric => match spec.features[f].name.as_str() {
                "items" => rng.below(6) as f32 + 0.5,
                "quantity" => rng.below(10) as f32 + 0.5,
                "spend" => (rng.unit() * 20.0) as f32,
                "unit_price" => (rng.unit() * 4.0) as f32,
                "price_index" | "price_index_mean" => (rng.unit() * 2.0 - 1.0) as f32,
                _ => rng.unit() as f32,
            },
        };
        let left = nodes.len();
        nodes.push(Node::leaf(0, vec![0.0; 3]));
        nodes.push(Node::leaf(0, vec![0.0; 3]));
        nodes[at] = Node {
            feature: f as u32,
            threshold,
            left: left as u32,
            missing_left: rng.unit() < 0.5,
            value: dist(rng),
        };
        grow(rng, spec, nodes, left, depth + 1, max_depth);
        grow(rng, spec, nodes, left + 1, depth + 1, max_depth);
    }
    let mut nodes = vec![Node::leaf(0, vec![0.0; 3])];
    grow(rng, spec, &mut nodes, 0, 0, max_depth);
    nodes
}

/// A basket model with `n_trees` random trees.
pub fn basket_model(seed: u64, n_trees: usize) -> Model {
    let mut rng = Rng::new(seed);
    let classes = strings(&CLASSES);
    let spec = FeatureSpec::for_baskets(
        &classes,
        [
            strings(&STORE_FORMATS),
            strings(&REGIONS),
            strings(&SIZES),
            strings(&TYPES),
            strings(&MISSIONS),
            strings(&CLASSES),
        ],
        priors(&mut rng),
    );
    let trees: Vec<Vec<Node>> = (0..n_trees)
        .map(|_| random_tree(&mut rng, &spec, 7))
        .collect();
    let forest = Forest::from_trees(spec.features.len(), 3, &trees).expect("valid forest");
    let meta = Metadata {
        label: "BASKET_PRICE_SENSITIVITY".into(),
        classes,
        features: spec,
        params: serde_json::json!({"n_trees": n_trees}),
        training: TrainingInfo {
            source: "forest-serve tests".into(),
            rows: 0,
            fingerprint: String::new(),
        },
        metrics: serde_json::json!({}),
        feature_importance: vec![],
        tree_seeds: vec![],
        trainer: "forest-serve tests".into(),
        git_revision: None,
        ensemble: Default::default(),
        training_distribution: None,
    };
    Model::new(meta, forest).expect("valid model")
}

/// Random baskets the test model's training distribution is fitted on.
pub const TRAINING_ROWS: usize = 20_000;

/// `model` with the training distribution of its features over `rows`
/// random baskets drawn from `seed`, as `fit` stores it.
pub fn with_training_distribution(model: Model, seed: u64, rows: usize) -> Model {
    let mut rng = Rng::new(seed);
    let n = model.meta.features.len();
    let mut columns = vec![Vec::with_capacity(rows); n];
    let mut x = Vec::new();
    for _ in 0..rows {
        let b = random_basket(&mut rng);
        model
            .meta
            .features
            .encode_basket(&b, &mut x)
            .expect("basket model");
        for (c, v) in columns.iter_mut().zip(&x) {
            c.push(*v);
        }
    }
    let Model { mut meta, forest } = model;
    meta.training_distribution = Some(forest_core::drift::fit_columns(&columns));
    Model::new(meta, forest).expect("valid model")
}

/// A random basket: mostly known codes, some unknown ones, odd values.
pub fn random_basket(rng: &mut Rng) -> Basket {
    let n_items = 1 + rng.below(8);
    let items = (0..n_items)
        .map(|i| {
            let p = PRODUCTS[rng.below(PRODUCTS.len())];
            let unknown = rng.unit() < 0.2;
            Item {
                prod_code: if unknown {
                    format!("PRD99{i:05}")
                } else {
                    p[0].into()
                },
                prod_code_10: if unknown && rng.unit() < 0.5 {
                    "CL99999".into()
                } else {
                    p[1].into()
                },
                prod_code_20: p[2].into(),
                prod_code_30: p[3].into(),
                prod_code_40: (rng.unit() < 0.9).then(|| p[4].to_string()),
                quantity: 1.0 + rng.below(4) as f64,
                spend: (rng.unit() * 800.0).round() / 100.0,
            }
        })
        .collect();
    let any = |rng: &mut Rng, known: &[&str], unknown: &str| {
        if rng.unit() < 0.1 {
            unknown.to_string()
        } else {
            pick(rng, known).to_string()
        }
    };
    Basket {
        store_format: any(rng, &STORE_FORMATS, "XXL"),
        store_region: any(rng, &REGIONS, "Z99"),
        basket_size: any(rng, &SIZES, "XL"),
        basket_type: any(rng, &TYPES, "Weekly"),
        dominant_mission: any(rng, &MISSIONS, ""),
        customer_price_sensitivity: (rng.unit() < 0.7).then(|| pick(rng, &CLASSES).to_string()),
        items,
    }
}

/// What the interpreter answers for a basket.
pub fn expected(model: &Model, basket: &Basket) -> Vec<f32> {
    let mut x = Vec::new();
    model
        .meta
        .features
        .encode_basket(basket, &mut x)
        .expect("basket model");
    model.forest.predict_proba(&x).expect("width")
}
