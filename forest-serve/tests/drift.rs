//! Drift and the shadow model over real HTTP: PSI per feature on /drift and
//! /metrics for inputs drawn like the training rows and for shifted ones,
//! the shadow's agreement against the two models' offline agreement, and a
//! broken shadow artifact refused at start.

use forest_core::Basket;
use serde_json::{json, Value};

use crate::{baskets, model, server_with, Server};

/// The test server, taking batches of up to 500 baskets, with `tweak` on
/// top.
async fn drift_server(tweak: impl FnOnce(&mut forest_serve::Config)) -> Server {
    server_with(|c| {
        c.max_batch = 500;
        c.max_body_bytes = 1 << 20;
        tweak(c);
    })
    .await
}

async fn send_all(s: &Server, baskets: &[Basket]) {
    for chunk in baskets.chunks(500) {
        let body = json!({ "instances": chunk });
        let a = s.post("/predict", &body).await;
        assert_eq!(a.status, 200, "{}", a.text());
    }
}

async fn drift(s: &Server) -> Value {
    let a = s.get("/drift").await;
    assert_eq!(a.status, 200, "{}", a.text());
    a.json()
}

/// Feature name -> PSI.
fn psi_of(report: &Value) -> Vec<(String, f64)> {
    report["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["psi"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_like_training_stay_stable_and_a_shift_shows_in_its_features_only() {
    let s = drift_server(|_| {}).await;
    // Before any row: every PSI is null, and /metrics has no PSI series.
    let empty = drift(&s).await;
    assert_eq!(empty["rows_seen"], 0);
    assert!(empty["features"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["psi"].is_null()));

    // 10,000 baskets drawn like the training rows (another seed).
    send_all(&s, &baskets(1, 10_000)).await;
    let report = drift(&s).await;
    assert_eq!(report["rows_seen"], 10_000);
    assert_eq!(report["window_rows"], 10_000);
    for (name, psi) in psi_of(&report) {
        assert!(psi < 0.1, "{name}: PSI {psi} on inputs like training");
    }
    assert_eq!(report["drifted"], json!([]));
    let metrics = s.get("/metrics").await.text();
    assert!(
        metrics.contains("forest_feature_psi{feature=\"store_format\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("forest_drift_rows_total 10000"),
        "{metrics}"
    );

    // Then a full window where every basket comes from one store format and
    // one mission: those two features move, nothing else does.
    let shifted: Vec<Basket> = baskets(2, 10_000)
        .into_iter()
        .map(|mut b| {
            b.store_format = "XLS".into();
            b.dominant_mission = "Nonfood".into();
            b
        })
        .collect();
    send_all(&s, &shifted).await;
    let report = drift(&s).await;
    for (name, psi) in psi_of(&report) {
        if name == "store_format" || name == "dominant_mission" {
            assert!(psi > 0.2, "{name}: PSI {psi} after the shift");
        } else {
            assert!(
                psi < 0.1,
                "{name}: PSI {psi}, a feature the shift left alone"
            );
        }
    }
    assert_eq!(
        report["drifted"],
        json!(["store_format", "dominant_mission"])
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_off_without_a_training_distribution_or_a_window() {
    // A model trained before drift existed carries no distribution.
    let old = crate::model_file_of(model::basket_model(7, 40));
    let s = server_with(|c| c.model = Some(old.path.clone())).await;
    let a = s.get("/drift").await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["error"]["code"], "drift_off");
    assert!(
        a.text().contains("no training distribution"),
        "{}",
        a.text()
    );
    assert!(!s
        .get("/metrics")
        .await
        .text()
        .contains("forest_feature_psi"));
    s.stop().await;
    let s = drift_server(|c| c.drift_window = 0).await;
    let a = s.get("/drift").await;
    assert_eq!(a.status, 404);
    assert!(a.text().contains("--drift-window 0"), "{}", a.text());
    s.stop().await;
}

/// A metric's value from the Prometheus text.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shadow_agrees_as_often_as_the_two_models_do_offline() {
    let candidate = model::basket_model(8, 25);
    let dir = tempfile::tempdir().unwrap();
    let shadow_path = dir.path().join("candidate.forest");
    let candidate_bytes = forest_core::artifact::encode(&candidate);
    std::fs::write(&shadow_path, &candidate_bytes).unwrap();
    let s = drift_server(|c| {
        c.shadow = Some(shadow_path.clone());
        c.shadow_rate = 1.0;
    })
    .await;
    let sent = baskets(3, 2_000);
    // One basket per request and in batches: both are shadowed.
    for b in &sent[..200] {
        assert_eq!(s.post("/predict", &crate::basket_json(b)).await.status, 200);
    }
    send_all(&s, &sent[200..]).await;
    let offline_agree = sent
        .iter()
        .filter(|b| {
            forest_core::argmax(&model::expected(&s.model.model, b))
                == forest_core::argmax(&model::expected(&candidate, b))
        })
        .count() as f64;
    // The shadow works off the response path: wait for it to catch up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let text = loop {
        let text = s.get("/metrics").await.text();
        let done = metric(&text, "forest_shadow_predictions_total{agree=\"true\"}")
            + metric(&text, "forest_shadow_predictions_total{agree=\"false\"}");
        if done as usize == sent.len() || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(metric(&text, "forest_shadow_dropped_total"), 0.0, "{text}");
    assert_eq!(
        metric(&text, "forest_shadow_predictions_total{agree=\"true\"}"),
        offline_agree,
        "{text}"
    );
    let ratio = metric(&text, "forest_shadow_agreement_ratio");
    assert!(
        (ratio - offline_agree / sent.len() as f64).abs() < 1e-12,
        "{ratio}"
    );
    assert!(
        offline_agree < sent.len() as f64,
        "two different models must disagree sometimes"
    );
    let candidate_version = &forest_core::artifact::content_hash(&candidate_bytes)[..12];
    assert!(
        text.contains(&format!("shadow_version=\"{candidate_version}\"")),
        "{text}"
    );
    assert!(
        text.contains("forest_shadow_duration_seconds_count"),
        "{text}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shadow_rate_samples_that_share_of_requests() {
    let dir = tempfile::tempdir().unwrap();
    let shadow_path = dir.path().join("candidate.forest");
    std::fs::write(
        &shadow_path,
        forest_core::artifact::encode(&model::basket_model(8, 5)),
    )
    .unwrap();
    let s = drift_server(|c| {
        c.shadow = Some(shadow_path.clone());
        c.shadow_rate = 0.1;
    })
    .await;
    for b in &baskets(4, 200) {
        assert_eq!(s.post("/predict", &crate::basket_json(b)).await.status, 200);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let text = s.get("/metrics").await.text();
        let done = metric(&text, "forest_shadow_predictions_total{agree=\"true\"}")
            + metric(&text, "forest_shadow_predictions_total{agree=\"false\"}");
        if done == 20.0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    s.stop().await;
}

#[test]
fn a_broken_shadow_artifact_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.forest");
    let mut bytes = forest_core::artifact::encode(&model::basket_model(8, 5));
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&broken, &bytes).unwrap();
    let out = crate::run_binary(&[
        "--shadow",
        broken.to_str().unwrap(),
        "--addr",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("broken.forest"), "{text}");
    assert!(text.contains("truncated"), "{text}");
    // A missing file names itself too; a rate outside 0..1 is a usage error.
    let out = crate::run_binary(&["--shadow", "/nonexistent/candidate.forest"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("/nonexistent/candidate.forest"));
    let out = crate::run_binary(&["--shadow-rate", "1.5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("between 0 and 1"));
}
