//! External conformance: the Flash benchmark's 34 edge cases (byte-identical
//! report streams) and workloads (SHA-256 of the report stream equal to the
//! published value), read in place from `../shared/conformance/flash/`.
//!
//! Without `../shared` (or `$KABUKEN_SHARED`) these tests say they skipped.
//! The `normal` workload runs here; `.ci/run` checks all five through the
//! release-built `kabuken conformance flash`.

use kabuken::replay::flash::{self, ReportHasher};
use kabuken::replay::{read_maybe_xz, shared_dir};
use std::path::{Path, PathBuf};

fn flash_dir() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = shared_dir(&root)?.join("conformance").join("flash");
    dir.is_dir().then_some(dir)
}

fn published(dir: &Path, scenario: &str) -> String {
    let text = std::fs::read_to_string(dir.join("published_sha256.txt")).unwrap();
    text.lines()
        .find(|l| l.ends_with(&format!("  {scenario}_seed23_count1000000_reports.txt")))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no published hash for {scenario}"))
        .to_string()
}

#[test]
fn edge_cases_byte_identical() {
    let Some(dir) = flash_dir() else {
        eprintln!("SKIPPED: ../shared/conformance/flash not found (set KABUKEN_SHARED)");
        return;
    };
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir.join("edge-cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 34, "expected 34 edge cases");
    let mut failed = Vec::new();
    for bin in &names {
        let msgs = flash::parse(&std::fs::read(bin).unwrap()).unwrap();
        let mut h = ReportHasher::keeping_text();
        let (_, unreported) = flash::replay(&msgs, &mut h);
        assert_eq!(unreported, 0);
        let (_, text) = h.finish();
        let expected = std::fs::read(bin.with_extension("expected.txt")).unwrap();
        if text.unwrap() != expected {
            failed.push(bin.file_stem().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(failed.is_empty(), "edge cases differ: {failed:?}");
}

#[test]
fn normal_workload_hash() {
    let Some(dir) = flash_dir() else {
        eprintln!("SKIPPED: ../shared/conformance/flash not found (set KABUKEN_SHARED)");
        return;
    };
    let bytes = read_maybe_xz(&dir.join("orders_normal_s23_n1000000.bin.xz")).unwrap();
    let msgs = flash::parse(&bytes).unwrap();
    let mut h = ReportHasher::new();
    let (_, unreported) = flash::replay(&msgs, &mut h);
    assert_eq!(unreported, 0);
    let (hex, _) = h.finish();
    assert_eq!(hex, published(&dir, "normal"));
}
