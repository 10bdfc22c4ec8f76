//! The S3 lake against moto's S3 on loopback: the same operations as the
//! local lake, the multipart path, and failure modes (dead endpoint, bad
//! locations) that must be quick, clear errors.

use std::time::{Duration, Instant};

use forest_train::lake::{init, Lake, LakeError, S3Options};

use crate::moto::{free_port, DyingEndpoint, Moto};

fn options(endpoint: &str) -> S3Options {
    S3Options {
        endpoint_url: Some(endpoint.to_string()),
        region: Some("us-east-1".into()),
        credentials: Some(("testing".into(), "testing".into())),
    }
}

fn open(moto: &Moto, location: &str) -> Lake {
    let lake = Lake::open(location, &options(&moto.endpoint)).expect("open S3 lake");
    lake.create_bucket_if_missing().expect("create bucket");
    lake
}

#[test]
fn s3_lake_put_get_list_exists_delete() {
    let moto = Moto::start();
    let lake = open(&moto, "s3://forest-lake/some/prefix");
    assert!(
        !lake.create_bucket_if_missing().unwrap(),
        "second call finds the bucket"
    );
    assert_eq!(lake.location(), "s3://forest-lake/some/prefix");
    assert_eq!(
        lake.url("raw/a.csv"),
        "s3://forest-lake/some/prefix/raw/a.csv"
    );
    init(&lake).unwrap();
    assert!(
        lake.list("").unwrap().is_empty(),
        "prefix markers are not keys"
    );

    lake.put("raw/a.csv", b"a,b\n1,2\n").unwrap();
    assert_eq!(lake.get("raw/a.csv").unwrap(), b"a,b\n1,2\n");
    lake.put("raw/a.csv", b"replaced").unwrap();
    assert_eq!(lake.get("raw/a.csv").unwrap(), b"replaced");
    lake.put("empty", b"").unwrap();
    assert_eq!(lake.get("empty").unwrap(), b"");

    for key in ["silver/w=2/p", "silver/w=1/p", "silver/w=10/p", "silverish"] {
        lake.put(key, key.as_bytes()).unwrap();
    }
    assert_eq!(
        lake.list("silver/").unwrap(),
        ["silver/w=1/p", "silver/w=10/p", "silver/w=2/p"]
    );
    assert_eq!(
        lake.list("silver/w=1").unwrap(),
        ["silver/w=1/p", "silver/w=10/p"]
    );
    assert_eq!(lake.list("").unwrap().len(), 6);

    assert!(lake.exists("raw/a.csv").unwrap());
    assert!(!lake.exists("raw/b.csv").unwrap());
    let err = lake.get("raw/b.csv").unwrap_err();
    assert!(matches!(err, LakeError::NotFound { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("s3://forest-lake/some/prefix/raw/b.csv"),
        "{err}"
    );

    lake.delete("raw/a.csv").unwrap();
    lake.delete("raw/a.csv").unwrap();
    assert!(!lake.exists("raw/a.csv").unwrap());
    assert_eq!(lake.delete_prefix("silver/w=1").unwrap(), 2);
    assert_eq!(lake.list("silver/").unwrap(), ["silver/w=2/p"]);

    let err = lake.put("../escape", b"x").unwrap_err();
    assert!(matches!(err, LakeError::InvalidKey { .. }), "{err}");

    // Another prefix in the same bucket is another lake.
    let other = open(&moto, "s3://forest-lake/other");
    assert!(other.list("").unwrap().is_empty());
    assert!(!other.exists("empty").unwrap());
}

#[test]
fn s3_lake_large_object_goes_through_multipart_and_leaves_no_tmp() {
    let moto = Moto::start();
    let lake = open(&moto, "s3://forest-lake/big");
    let bytes: Vec<u8> = (0..20u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    if let Err(e) = lake.put("gold/big.bin", &bytes) {
        let hint = if e.to_string().contains("CompleteMultipartUploadResponse") {
            "\nmoto 5.2.0/5.2.1 bug (getmoto/moto#10055); run: pip install -U 'moto[server]>=5.2.2'"
        } else {
            ""
        };
        panic!("multipart put failed: {e}{hint}");
    }
    assert!(
        lake.get("gold/big.bin").unwrap() == bytes,
        "20 MiB object reads back identical"
    );
    assert_eq!(lake.list("").unwrap(), ["gold/big.bin"]);
    // A lake rooted at tmp/ sees what the real one hides.
    let tmp = open(&moto, "s3://forest-lake/big/tmp");
    assert_eq!(
        tmp.list("").unwrap(),
        Vec::<String>::new(),
        "no tmp objects left"
    );
}

#[test]
fn s3_lake_dead_endpoint_fails_fast_and_clearly() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let lake = Lake::open("s3://forest-lake/dead", &options(&endpoint)).unwrap();
    let start = Instant::now();
    let err = lake.get("raw/week1.csv").unwrap_err();
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}: {err}");
    let message = err.to_string();
    assert!(
        matches!(
            err,
            LakeError::S3 {
                operation: "GetObject",
                ..
            }
        ),
        "{message}"
    );
    assert!(
        message.contains("s3://forest-lake/dead/raw/week1.csv"),
        "{message}"
    );
    let err = lake.put("raw/week1.csv", b"x").unwrap_err();
    assert!(err.to_string().contains("PutObject"), "{err}");
    // The multipart path names the key being written, not just its tmp object.
    let err = lake.put("gold/big.bin", &vec![0u8; 9 << 20]).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("s3://forest-lake/dead/gold/big.bin"),
        "{message}"
    );
    assert!(message.contains("CreateMultipartUpload"), "{message}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
}

/// Issue 15: the S3 endpoint dies in the middle of an upload, a single
/// PutObject and a multipart one. The client retries, then fails with an
/// error naming the operation and the object; and moto, still holding what
/// it was sent, shows nothing under the final key.
#[test]
fn s3_endpoint_dying_mid_upload_leaves_no_object_under_the_final_key() {
    let moto = Moto::start();
    let direct = open(&moto, "s3://forest-lake/faults");
    for (key, size, die_after, operation) in [
        ("gold/one-put.bin", 3 << 20, 1 << 20, "PutObject"),
        ("gold/multipart.bin", 20 << 20, 12 << 20, "UploadPart"),
    ] {
        let dying = DyingEndpoint::start(&moto, die_after);
        let lake = Lake::open("s3://forest-lake/faults", &options(&dying.endpoint)).unwrap();
        let bytes: Vec<u8> = (0..size as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let start = Instant::now();
        let err = lake.put(key, &bytes).unwrap_err();
        let message = err.to_string();
        assert!(dying.died(), "{key}: the endpoint never died");
        assert!(
            dying.refused() >= 1,
            "{key}: no retry reached the dead endpoint: {message}"
        );
        assert!(
            message.contains(operation)
                && message.contains(&format!("s3://forest-lake/faults/{key}")),
            "{key}: {message}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{:?}",
            start.elapsed()
        );
        assert!(
            !direct.exists(key).unwrap(),
            "{key} is visible after a failed upload"
        );
        assert!(
            !direct.list("").unwrap().iter().any(|k| k == key),
            "{key} listed"
        );
    }
}

#[test]
fn s3_lake_invalid_locations_are_rejected() {
    for bad in [
        "s3://",
        "s3:///x",
        "s3://Upper/x",
        "s3://bucket//x",
        "s3://bucket/../x",
        "gs://bucket/x",
    ] {
        let err = Lake::open(bad, &S3Options::default()).unwrap_err();
        assert!(
            matches!(err, LakeError::InvalidLocation { .. }),
            "{bad}: {err}"
        );
        assert!(err.to_string().contains(bad), "{err}");
    }
}
