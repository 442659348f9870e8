//! End-to-end tests of the `kabuken` command. Those needing `../shared` say
//! that they skipped when it is absent.

use std::path::{Path, PathBuf};
use std::process::Command;

fn kabuken() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kabuken"))
}

fn shared() -> Option<PathBuf> {
    kabuken::replay::shared_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn simulate_json_is_deterministic_and_checks_invariants() {
    let run = || {
        json(
            &kabuken()
                .args(["simulate", "--orders", "4000", "--seed", "5", "--json"])
                .output()
                .unwrap(),
        )
    };
    let a = run();
    let b = run();
    assert_eq!(a["invariants_ok"], true, "{a}");
    assert_eq!(a["state_hash"], b["state_hash"]);
    assert_eq!(a["trades"], b["trades"]);
    assert_eq!(a["refusals"], b["refusals"]);
    assert!(a["trades"].as_u64().unwrap() > 0);
    assert!(a["transfers"].as_u64().unwrap() > 0);
    assert_eq!(a["orders"].as_u64(), Some(4000));
    assert_eq!(a["attacks_accepted"].as_u64(), Some(0));
    for key in [
        "orders_per_s",
        "signed_messages_per_s",
        "seconds",
        "p50_ns",
        "p99_ns",
        "p999_ns",
        "max_ns",
        "settlements",
    ] {
        assert!(a[key].is_number(), "{key}");
    }
    let refusals = a["refusals"].as_object().unwrap();
    for reason in [
        "bad_signature",
        "replay",
        "certificate_in_use",
        "policy_quantity",
    ] {
        assert!(refusals[reason].as_u64().unwrap() > 0, "{reason}");
    } // Out-of-band verification at reception: every outcome occurs.
    assert_eq!(a["oob"], b["oob"]);
    let oob = a["oob"].as_object().expect("oob object");
    for key in [
        "confirmed",
        "cancelled",
        "wrong_answers",
        "locked_out",
        "expired",
        "duress",
    ] {
        assert!(oob[key].as_u64().unwrap() > 0, "oob {key}: {oob:?}");
    }
}

#[test]
fn simulate_on_the_runtime_reports_stages_and_the_ceiling() {
    let v = json(
        &kabuken()
            .args([
                "simulate",
                "--threads",
                "1",
                "--orders",
                "3000",
                "--seed",
                "4",
                "--json",
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(v["invariants_ok"], true, "{v}");
    assert_eq!(v["threads"], 1);
    assert_eq!(v["mode"], "signed");
    assert!(v["orders_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["verify_ceiling_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(
        v["accepted"].as_u64().unwrap() + v["refused"].as_u64().unwrap(),
        3000
    );
    assert_eq!(v["stages"]["verify"]["requests"], 3000);
    assert_eq!(v["stages"]["sequencer"]["requests"], 3000);
    assert!(v["stages"]["signing"]["signatures"].as_u64().unwrap() > 0);
    assert!(v["matches"].as_u64().unwrap() > 0);
    for k in ["p50_ns", "p99_ns", "p999_ns", "max_ns"] {
        assert!(v["half_load"][k].as_u64().unwrap() > 0, "{k}");
    }
    let t = json(
        &kabuken()
            .args([
                "simulate",
                "--threads",
                "1",
                "--orders",
                "3000",
                "--trusted",
                "--json",
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(t["invariants_ok"], true, "{t}");
    assert_eq!(t["mode"], "trusted-gateway");
    assert_eq!(t["stages"]["sequencer"]["requests"], 3000);
    assert_eq!(
        t["accepted"].as_u64().unwrap() + t["refused"].as_u64().unwrap(),
        3000
    );
    assert!(t["fills"].as_u64().unwrap() > 0);
    assert_eq!(
        t["fills"], t["transfers"],
        "one certificate transfer per fill"
    );
    assert!(t["stages"]["documents"]["certificates"].as_u64().unwrap() > 0);
    for k in ["p50_ns", "p99_ns", "p999_ns", "max_ns"] {
        assert!(t["half_load"][k].as_u64().unwrap() > 0, "{k}");
    }
    // The trusted gateway on the full runtime (signed documents per fill).
    let f = json(
        &kabuken()
            .args([
                "simulate",
                "--threads",
                "1",
                "--orders",
                "3000",
                "--trusted-full",
                "--json",
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(f["invariants_ok"], true, "{f}");
    assert_eq!(f["mode"], "trusted-gateway-full");
    assert_eq!(f["stages"]["verify"]["requests"], 0);
    assert!(f["matches"].as_u64().unwrap() > 0);
    // Bad arguments: a clear error, exit status 2.
    let out = kabuken()
        .args(["simulate", "--threads", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least"));
}

#[test]
fn replay_synth_keeps_the_book_checks() {
    let out = kabuken()
        .args([
            "replay", "synth", "--orders", "20000", "--seed", "5", "--json",
        ])
        .output()
        .unwrap();
    let a = json(&out);
    assert_eq!(a["invariants_ok"], true);
    assert!(a["trades"].as_u64().unwrap() > 0);
}

#[test]
fn conformance_refuses_bad_input_with_a_message() {
    let dir = std::env::temp_dir().join(format!("kabuken-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.bin");
    std::fs::write(&bad, b"not a workload at all").unwrap();
    let out = kabuken()
        .args(["conformance", "flash"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("100_WBEM"));
    let out = kabuken()
        .args(["replay", "lobster"])
        .arg(dir.join("missing.zip"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.zip"));
}

#[test]
fn conformance_expect_and_out() {
    let Some(shared) = shared() else {
        eprintln!("SKIPPED: ../shared not found (set KABUKEN_SHARED)");
        return;
    };
    let case = shared.join("conformance/flash/edge-cases/fifo_priority.bin");
    let expected = std::fs::read(case.with_extension("expected.txt")).unwrap();
    let out_file = std::env::temp_dir().join(format!("kabuken-fifo-{}.txt", std::process::id()));
    let out = kabuken()
        .args(["conformance", "flash"])
        .arg(&case)
        .arg("--out")
        .arg(&out_file)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(std::fs::read(&out_file).unwrap(), expected);
    let hash = String::from_utf8(out.stdout).unwrap();
    let hash = hash.split_whitespace().next().unwrap().to_string();
    let ok = kabuken()
        .args(["conformance", "flash"])
        .arg(&case)
        .args(["--expect", &hash])
        .output()
        .unwrap();
    assert!(ok.status.success());
    let wrong = kabuken()
        .args(["conformance", "flash"])
        .arg(&case)
        .args(["--expect", &"0".repeat(64)])
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(1));
}

#[test]
fn replay_json_reports() {
    let Some(shared) = shared() else {
        eprintln!("SKIPPED: ../shared not found (set KABUKEN_SHARED)");
        return;
    };
    let v = json(
        &kabuken()
            .args(["replay", "flash", "--runs", "1", "--json"])
            .arg(shared.join("conformance/flash/edge-cases/deep_recursive_sweep_5000.bin"))
            .output()
            .unwrap(),
    );
    for key in [
        "messages",
        "seconds",
        "msgs_per_s",
        "p50_ns",
        "p99_ns",
        "p999_ns",
        "max_ns",
    ] {
        assert!(v[key].is_number(), "{key}");
    }
    let v = json(
        &kabuken()
            .args(["replay", "lobster", "--runs", "1", "--json"])
            .arg(shared.join("data/lobster/LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"))
            .output()
            .unwrap(),
    );
    assert!(v["agreement"].as_f64().unwrap() > 0.99, "{v}");
    assert_eq!(v["compared_levels"], 8);
}
