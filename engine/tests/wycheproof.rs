//! Every case of Project Wycheproof's Ed25519 vectors
//! (`../shared/vectors/wycheproof_ed25519_test.json`) gives its expected
//! result through `kabuken::crypto::verify_raw` (strict verification with
//! weak-key refusal).

use std::path::PathBuf;

fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("KABUKEN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    dir.is_dir().then_some(dir)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn wycheproof_ed25519() {
    let Some(dir) = shared_dir() else {
        eprintln!(
            "SKIPPED: ../shared not found (set KABUKEN_SHARED); wycheproof vectors not checked"
        );
        return;
    };
    let path = dir.join("vectors/wycheproof_ed25519_test.json");
    let text = std::fs::read_to_string(&path).expect("read vectors");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut checked = 0usize;
    let mut failures = Vec::new();
    for group in doc["testGroups"].as_array().expect("groups") {
        let pk = hex(group["publicKey"]["pk"].as_str().expect("pk"));
        for case in group["tests"].as_array().expect("tests") {
            let id = case["tcId"].as_u64().expect("tcId");
            let msg = hex(case["msg"].as_str().expect("msg"));
            let sig = hex(case["sig"].as_str().expect("sig"));
            let expected = case["result"].as_str().expect("result");
            let ok = match (
                <[u8; 32]>::try_from(pk.as_slice()),
                <[u8; 64]>::try_from(sig.as_slice()),
            ) {
                (Ok(pk), Ok(sig)) => kabuken::crypto::verify_raw(&pk, &msg, &sig).is_ok(),
                _ => false, // wrong-length key or signature: refused
            };
            let want = match expected {
                "valid" => true,
                "invalid" => false,
                // The vectors' README: no "acceptable" cases in this file;
                // kabuken's strict policy refuses anything not plainly valid.
                _ => false,
            };
            if ok != want {
                failures.push((id, expected.to_owned(), case["comment"].clone()));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "wycheproof mismatches: {failures:?}");
    assert_eq!(
        checked as u64,
        doc["numberOfTests"].as_u64().expect("count")
    );
    eprintln!("wycheproof: {checked} cases agree");
}
