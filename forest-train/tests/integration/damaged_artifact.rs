//! A damaged `.forest` never becomes a server: building the `forest` crate
//! around a truncated or bit-flipped artifact (`FOREST_MODEL`, as an image
//! build does) stops with a message naming the damaged section.

use std::path::Path;
use std::process::Command;

use crate::nested_target_dir;

fn build_around(artifact: &Path) -> (bool, String) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace)
        .args(["build", "--quiet", "-p", "forest"])
        .env("FOREST_MODEL", artifact)
        .env("CARGO_TARGET_DIR", nested_target_dir())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_build_refuses_a_truncated_or_bit_flipped_artifact_naming_the_section() {
    let approved =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/approved.forest"))
            .unwrap();
    let dir = tempfile::tempdir().unwrap();

    let truncated = dir.path().join("truncated.forest");
    std::fs::write(&truncated, &approved[..approved.len() / 2]).unwrap();
    let (ok, stderr) = build_around(&truncated);
    assert!(!ok, "a truncated artifact must not build");
    assert!(
        stderr.contains("truncated.forest is not a usable model")
            && stderr.contains("section ")
            && stderr.contains("truncated"),
        "{stderr}"
    );

    let mut flipped = approved.clone();
    let at = approved.len() / 2;
    flipped[at] ^= 0x10;
    let path = dir.path().join("flipped.forest");
    std::fs::write(&path, &flipped).unwrap();
    let (ok, stderr) = build_around(&path);
    assert!(!ok, "a bit-flipped artifact must not build");
    assert!(
        stderr.contains("flipped.forest is not a usable model")
            && stderr.contains("section ")
            && stderr.contains("checksum mismatch"),
        "{stderr}"
    );
}
