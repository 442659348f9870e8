//! The `kabuken` command: simulate, replay, conformance.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use kabuken::book::model::ModelBook;
use kabuken::book::{Book, BookConfig, Command, NewOrder, TimeInForce};
use kabuken::exchange::sim::{SimConfig, World};
use kabuken::replay::flash::{self, Msg, ReportHasher};
use kabuken::replay::{lobster, read_maybe_xz, synth};
use kabuken_bench::{flash_stats, lobster::lobster_report};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "kabuken",
    version,
    about = "kabuken: an exchange core for electronic stock certificates"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a whole trading session end to end and report: a CA, a register,
    /// an exchange with several instruments, settlement and many investors;
    /// signed orders (honest and malicious), transfers, direct transfers,
    /// reissues; then every invariant of DESIGN.md section 3 is checked.
    Simulate {
        /// PRNG seed; the same seed gives the same session.
        #[arg(long, default_value_t = 23)]
        seed: u64,
        /// Number of order requests (honest and malicious).
        #[arg(long, default_value_t = 20_000)]
        orders: u64,
        /// Number of investors.
        #[arg(long, default_value_t = 50)]
        investors: u32,
        /// Number of instruments.
        #[arg(long, default_value_t = 4)]
        instruments: u32,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Run on the concurrent runtime with N verification workers (plus
        /// the sequencer, the signing stage and the producers): a
        /// pre-signed order flow submitted as fast as the runtime takes it,
        /// then the rest at half that rate for latency percentiles.
        #[arg(long)]
        threads: Option<usize>,
        /// With --threads: producer threads submitting the flow.
        #[arg(long, default_value_t = 2)]
        producers: usize,
        /// With --threads: trusted-gateway mode on the compact gateway
        /// (`kabuken::runtime::gateway`): fixed-size orders in batches, no
        /// signature checked or made per order; certificates reserved and
        /// transferred on every fill, cash settled; batch-signed
        /// certificate documents for the live certificates at the end.
        #[arg(long)]
        trusted: bool,
        /// With --threads: trusted-gateway mode on the full runtime (signed
        /// register documents, transfer and settlement messages per fill).
        #[arg(long, conflicts_with = "trusted")]
        trusted_full: bool,
        /// With --trusted: orders per submitted batch.
        #[arg(long, default_value_t = 256)]
        batch: usize,
        /// With --threads: the verification workers run the signing stage
        /// between their batches instead of a signing thread of its own
        /// (fewer threads than cores on a small machine).
        #[arg(long)]
        shared_signing: bool,
    },
    /// Replay an external workload through the book and report speed.
    #[command(subcommand)]
    Replay(ReplayCmd),
    /// Check the book against an external conformance set.
    #[command(subcommand)]
    Conformance(ConformanceCmd),
}

#[derive(Subcommand, Debug)]
enum ReplayCmd {
    /// A generated order flow (seeded) through the bare order book, checked
    /// against the reference model and for determinism.
    Synth {
        /// PRNG seed.
        #[arg(long, default_value_t = 23)]
        seed: u64,
        /// Number of new orders.
        #[arg(long, default_value_t = 1_000_000)]
        orders: u64,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// A Flash benchmark workload (`.bin` or `.bin.xz`).
    Flash {
        /// The workload file.
        workload: PathBuf,
        /// Timed runs (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// A LOBSTER sample zip (message + orderbook files).
    Lobster {
        /// The zip file.
        zip: PathBuf,
        /// Timed runs (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Levels per side compared with the orderbook file (default: all but
        /// the two deepest).
        #[arg(long)]
        levels: Option<usize>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ConformanceCmd {
    /// Replay a Flash workload and print the SHA-256 of its report stream.
    Flash {
        /// The workload file (`.bin` or `.bin.xz`).
        workload: PathBuf,
        /// Exit 0 only if the hash equals this (hex).
        #[arg(long)]
        expect: Option<String>,
        /// Write the report stream to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the whole Flash set: every edge case and every workload against
    /// the published hashes.
    FlashSuite {
        /// The conformance folder (default: ../shared/conformance/flash or
        /// $KABUKEN_SHARED/conformance/flash).
        dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Simulate {
            seed,
            orders,
            investors,
            instruments,
            json,
            threads: Some(_),
            producers,
            trusted: true,
            batch,
            ..
        } => simulate_gateway(&GatewaySim {
            seed,
            orders,
            investors,
            instruments,
            producers,
            batch,
            json,
        }),
        Cmd::Simulate {
            seed,
            orders,
            investors,
            instruments,
            json,
            threads: Some(threads),
            producers,
            trusted_full,
            shared_signing,
            ..
        } => simulate_runtime(&RuntimeSim {
            seed,
            orders,
            investors,
            instruments,
            threads,
            producers,
            trusted: trusted_full,
            shared_signing,
            json,
        }),
        Cmd::Simulate {
            seed,
            orders,
            investors,
            instruments,
            json,
            threads: None,
            ..
        } => simulate(seed, orders, investors, instruments, json),
        Cmd::Replay(ReplayCmd::Synth { seed, orders, json }) => replay_synth(seed, orders, json),
        Cmd::Replay(ReplayCmd::Flash {
            workload,
            runs,
            json,
        }) => replay_flash(&workload, runs, json),
        Cmd::Replay(ReplayCmd::Lobster {
            zip,
            runs,
            levels,
            json,
        }) => replay_lobster(&zip, runs, levels, json),
        Cmd::Conformance(ConformanceCmd::Flash {
            workload,
            expect,
            out,
        }) => conformance_flash(&workload, expect.as_deref(), out.as_deref()),
        Cmd::Conformance(ConformanceCmd::FlashSuite { dir }) => flash_suite(dir),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kabuken: error: {e}");
            ExitCode::from(2)
        }
    }
}

type Res = Result<ExitCode, Box<dyn std::error::Error>>;

fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("static template"),
    );
    pb.set_message(msg.to_owned());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

fn load_flash(path: &Path) -> Result<Vec<Msg>, Box<dyn std::error::Error>> {
    let pb = spinner(&format!("loading {}", path.display()));
    let bytes = read_maybe_xz(path)?;
    let msgs = flash::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    pb.finish_and_clear();
    Ok(msgs)
}

fn hash_flash(msgs: &[Msg], keep: bool) -> (String, Option<Vec<u8>>, u64) {
    let mut h = if keep {
        ReportHasher::keeping_text()
    } else {
        ReportHasher::new()
    };
    let (_, unreported) = flash::replay(msgs, &mut h);
    let (hex, text) = h.finish();
    (hex, text, unreported)
}

fn conformance_flash(workload: &Path, expect: Option<&str>, out: Option<&Path>) -> Res {
    let msgs = load_flash(workload)?;
    let pb = spinner("replaying");
    let (hex, text, unreported) = hash_flash(&msgs, out.is_some());
    pb.finish_and_clear();
    if let (Some(path), Some(text)) = (out, text) {
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!("{hex}  {}", workload.display());
    if unreported > 0 {
        eprintln!("note: {unreported} new orders were refused (the stream has no line for them)");
    }
    match expect {
        None => Ok(ExitCode::SUCCESS),
        Some(want) if want.trim().eq_ignore_ascii_case(&hex) => {
            println!("OK: matches the expected hash");
            Ok(ExitCode::SUCCESS)
        }
        Some(want) => {
            println!("MISMATCH: expected {}", want.trim());
            Ok(ExitCode::FAILURE)
        }
    }
}

fn flash_suite(dir: Option<PathBuf>) -> Res {
    let dir = match dir {
        Some(d) => d,
        None => kabuken::replay::shared_dir(Path::new("."))
            .map(|s| s.join("conformance").join("flash"))
            .ok_or("no conformance folder given and ../shared not found (set KABUKEN_SHARED)")?,
    };
    let mut ok = true;
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir.join("edge-cases"))
        .map_err(|e| format!("{}: {e}", dir.join("edge-cases").display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    cases.sort();
    let mut passed = 0;
    for bin in &cases {
        let msgs =
            flash::parse(&std::fs::read(bin)?).map_err(|e| format!("{}: {e}", bin.display()))?;
        let (_, text, _) = hash_flash(&msgs, true);
        let expected = std::fs::read(bin.with_extension("expected.txt"))?;
        if text.as_deref() == Some(&expected[..]) {
            passed += 1;
        } else {
            ok = false;
            println!("edge case FAILED: {}", bin.display());
        }
    }
    println!("edge cases: {passed}/{} byte-identical", cases.len());
    let published = std::fs::read_to_string(dir.join("published_sha256.txt"))?;
    let mut matched = 0;
    let mut total = 0;
    for line in published.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.split_whitespace();
        let (Some(want), Some(name)) = (parts.next(), parts.next()) else {
            return Err(format!("malformed line in published_sha256.txt: {line}").into());
        };
        let scenario = name.split("_seed").next().unwrap_or(name);
        let file = dir.join(format!("orders_{scenario}_s23_n1000000.bin.xz"));
        total += 1;
        let msgs = load_flash(&file)?;
        let t = Instant::now();
        let (hex, _, _) = hash_flash(&msgs, false);
        let verdict = if hex == want {
            matched += 1;
            "ok"
        } else {
            ok = false;
            "MISMATCH"
        };
        println!(
            "{scenario:<12} {verdict:<8} {hex} ({} messages, {:.2} s with hashing)",
            msgs.len(),
            t.elapsed().as_secs_f64()
        );
    }
    println!("workloads: {matched}/{total} hashes equal to the published ones");
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn replay_flash(workload: &Path, runs: usize, json: bool) -> Res {
    let msgs = load_flash(workload)?;
    let pb = spinner(&format!("replaying {} messages x {runs}", msgs.len()));
    let stats = flash_stats(&msgs, runs);
    pb.finish_and_clear();
    if json {
        let mut v = stats.to_json();
        v["workload"] = workload.display().to_string().into();
        println!("{v}");
    } else {
        println!("workload      {}\n{}", workload.display(), stats.describe());
    }
    Ok(ExitCode::SUCCESS)
}

fn replay_lobster(zip: &Path, runs: usize, levels: Option<usize>, json: bool) -> Res {
    let pb = spinner(&format!("loading {}", zip.display()));
    let data = lobster::load_zip(zip)?;
    pb.set_message("reconstructing and replaying");
    let report = lobster_report(&data, levels, runs);
    pb.finish_and_clear();
    let rec = &report.reconstruction;
    if json {
        let mut v = report.stats.to_json();
        v["file"] = zip.display().to_string().into();
        v["lobster_messages"] = data.messages.len().into();
        v["message_commands"] = rec.message_commands.into();
        v["resync_commands"] = (rec.commands.len() as u64 - rec.message_commands).into();
        v["rows"] = rec.rows.into();
        v["rows_agree"] = rec.agree.into();
        v["compared_levels"] = rec.compared_levels.into();
        v["agreement"] = rec.agreement().into();
        println!("{v}");
    } else {
        println!(
            "file          {}\nlobster msgs  {} ({} issued no book command)\nbook commands {} ({} from messages, {} resync)\nagreement     {}/{} rows ({:.2}%) on the top {} levels per side\n{}",
            zip.display(),
            data.messages.len(),
            rec.skipped,
            rec.commands.len(),
            rec.message_commands,
            rec.commands.len() as u64 - rec.message_commands,
            rec.agree,
            rec.rows,
            100.0 * rec.agreement(),
            rec.compared_levels,
            report.stats.describe()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A generated session through the bare book, with its invariants checked.
fn replay_synth(seed: u64, orders: u64, json: bool) -> Res {
    let cfg = synth::SynthConfig {
        seed,
        orders,
        ..synth::SynthConfig::default()
    };
    let pb = spinner("generating the session");
    let msgs = synth::generate(&cfg);
    pb.set_message(format!("replaying {} messages", msgs.len()));
    let stats = flash_stats(&msgs, 3);
    let mut counter = flash::ReportCounter::default();
    let (book, _) = flash::replay(&msgs, &mut counter);
    let (again, _) = flash::replay(&msgs, &mut flash::ReportCounter::default());
    pb.set_message("checking against the reference model");
    let mut failures: Vec<String> = Vec::new();
    if book.state_hash() != again.state_hash() {
        failures.push("replay is not deterministic".into());
    }
    if let (Some((b, _)), Some((a, _))) = (book.best_bid(), book.best_ask()) {
        if b >= a {
            failures.push(format!("book crossed: bid {b} >= ask {a}"));
        }
    }
    let checked = msgs.len().min(20_000);
    if let Err(e) = check_against_model(&msgs[..checked]) {
        failures.push(e);
    }
    pb.finish_and_clear();
    let [accepted, trades, cancels, modifies, cancel_rej, modify_rej] = counter.by_kind;
    if json {
        let v = serde_json::json!({
            "seed": seed,
            "orders": orders,
            "messages": stats.messages,
            "seconds": stats.seconds,
            "msgs_per_s": stats.msgs_per_s,
            "p50_ns": stats.p50_ns,
            "p99_ns": stats.p99_ns,
            "p999_ns": stats.p999_ns,
            "max_ns": stats.max_ns,
            "accepted": accepted,
            "trades": trades,
            "cancels": cancels,
            "modifies": modifies,
            "refusals": { "unknown_order_cancel": cancel_rej, "unknown_order_modify": modify_rej },
            "resting_orders": book.len(),
            "state_hash": hex(&book.state_hash()),
            "model_checked_messages": checked,
            "invariants_ok": failures.is_empty(),
            "failures": failures,
        });
        println!("{v}");
    } else {
        println!("kabuken replay synth (seed {seed}): a generated session through the order book");
        println!("{}", stats.describe());
        println!(
            "events        accepted {accepted}, trades {trades}, cancels {cancels}, modifies {modifies}, refused cancels {cancel_rej}, refused modifies {modify_rej}"
        );
        println!(
            "resting       {} orders, state hash {}",
            book.len(),
            hex(&book.state_hash())
        );
        println!(
            "model check   first {checked} messages agree with the reference model event for event"
        );
        if failures.is_empty() {
            println!("invariants    ok");
        } else {
            for f in &failures {
                println!("INVARIANT FAILED: {f}");
            }
        }
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The main job: a whole market, a session of signed requests, the
/// invariants, a report.
fn simulate(seed: u64, orders: u64, investors: u32, instruments: u32, json: bool) -> Res {
    if investors < 2 || instruments == 0 {
        return Err("need at least 2 investors and 1 instrument".into());
    }
    let pb = spinner("setting up the market (keys, attestations, certificates, cash)");
    let setup = Instant::now();
    let mut w = World::new(SimConfig {
        seed,
        investors,
        instruments,
        cash: 10_000_000,
        orders_hint: orders,
        ..SimConfig::default()
    });
    // Every fifth investor confirms its large orders out of band.
    let contractors = w.enable_oob(5);
    let setup_s = setup.elapsed().as_secs_f64();
    pb.finish_and_clear();
    let pb = ProgressBar::new(orders);
    pb.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} orders [{elapsed} < {eta}]")
            .expect("static template"),
    );
    if orders < 50_000 {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut hist = kabuken_bench::latency_histogram();
    let mut steps: u64 = 0;
    let mut kinds: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let start = Instant::now();
    while w.stats().orders < orders {
        let t = Instant::now();
        let k = w.step();
        let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let _ = hist.record(ns.max(1));
        steps += 1;
        *kinds.entry(format!("{k:?}")).or_insert(0) += 1;
        if steps % 512 == 0 {
            pb.set_position(w.stats().orders);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    pb.finish_and_clear();
    let pb = spinner("checking the invariants");
    let failures = match w.check_invariants() {
        Ok(()) => Vec::new(),
        Err(e) => e,
    };
    pb.finish_and_clear();
    let es = w.exchange.stats().clone();
    let ss = w.stats().clone();
    let sent = ss.orders;
    let signed = ss.client_signed + es.signed;
    let transfers = w.register.transfers().len() as u64;
    let totals = w.ledger.totals().clone();
    let refusals = w.refusals();
    let q = |p: f64| hist.value_at_quantile(p);
    let ok = failures.is_empty();
    let oob = w.oob_stats().unwrap_or_default();
    let (alarms, lockout_notices) = w.oob_alarms().unwrap_or_default();
    if json {
        let oob_json: serde_json::Value =
            serde_json::from_str(&oob.to_json()).map_err(|e| e.to_string())?;
        let mut v = serde_json::json!({
            "seed": seed,
            "investors": investors,
            "instruments": instruments,
            "orders": sent,
            "accepted": es.accepted,
            "amendments": ss.amendments,
            "steps": steps,
            "setup_seconds": setup_s,
            "seconds": seconds,
            "orders_per_s": sent as f64 / seconds,
            "requests_per_s": steps as f64 / seconds,
            "signed_messages": signed,
            "signed_messages_per_s": signed as f64 / seconds,
            "verifications_by_exchange": es.verified,
            "p50_ns": q(0.5),
            "p99_ns": q(0.99),
            "p999_ns": q(0.999),
            "max_ns": hist.max(),
            "trades": es.trades,
            "matches": es.matches,
            "transfers": transfers,
            "direct_transfers": ss.direct_transfers,
            "reissues": ss.reissues,
            "claims": ss.claims,
            "shares_traded": es.shares.to_string(),
            "refusals": refusals,
            "register_refusals": es.register_refusals,
            "attacks": ss.attacks,
            "attacks_accepted": ss.attacks_accepted,
            "settlements": totals.settlements,
            "settled_amount": totals.settled.to_string(),
            "released_amount": totals.released.to_string(),
            "deposited": totals.deposited.to_string(),
            "steps_by_kind": kinds,
            "per_order": {
                "signatures": signed as f64 / sent.max(1) as f64,
                "exchange_verifications": es.verified as f64 / sent.max(1) as f64,
                "book_trades": es.trades as f64 / sent.max(1) as f64,
                "transfers": es.matches as f64 / sent.max(1) as f64,
                "settlements": totals.settlements as f64 / sent.max(1) as f64,
            },
            "state_hash": hex(&w.state_hash()),
            "invariants_ok": ok,
            "failures": failures,
        });
        v["oob"] = oob_json;
        v["oob_contractors"] = contractors.into();
        v["oob_duress_alarms"] = alarms.into();
        v["oob_lockout_notices"] = lockout_notices.into();
        println!("{v}");
    } else {
        println!(
            "kabuken simulate (seed {seed}): {investors} investors, {instruments} instruments, signed requests end to end"
        );
        println!(
            "setup         {setup_s:.2} s (keys, attestations, {} certificates, cash)",
            u64::from(investors) * u64::from(instruments)
        );
        println!(
            "requests      {steps} in {seconds:.2} s: {sent} orders ({:.0} orders/s, {} accepted), {} cancels/reduces/modifies",
            sent as f64 / seconds,
            es.accepted,
            ss.amendments
        );
        println!(
            "signatures    {signed} signed by investors and exchange ({:.0}/s), {} verified by the exchange",
            signed as f64 / seconds,
            es.verified
        );
        let per = |n: u64| n as f64 / sent.max(1) as f64;
        println!(
            "per order     {:.2} signatures, {:.2} exchange verifications, {:.2} book trades, {:.2} transfers, {:.2} settlements (unit costs: cargo bench --bench exchange)",
            per(signed),
            per(es.verified),
            per(es.trades),
            per(es.matches),
            per(totals.settlements)
        );
        println!(
            "latency       per request: p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
            q(0.5),
            q(0.99),
            q(0.999),
            hist.max()
        );
        println!(
            "trades        {} book trades, {} matches transferred ({} shares), {} register transfers in all",
            es.trades, es.matches, es.shares, transfers
        );
        println!(
            "phases        {} certificates claimed by transfer number, {} direct transfers, {} reissues",
            ss.claims, ss.direct_transfers, ss.reissues
        );
        println!(
            "attacks       {} sent, {} accepted; register refused {} transfers",
            ss.attacks, ss.attacks_accepted, es.register_refusals
        );
        let r: Vec<String> = refusals.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("refusals      {}", r.join(", "));
        println!(
            "settlement    {} settlements, {} paid, {} released, {} deposited",
            totals.settlements, totals.settled, totals.released, totals.deposited
        );
        println!(
            "oob           {contractors} contractors: {} confirmed, {} cancelled, {} wrong answers, {} locked out, {} expired, {} duress ({alarms} alarms raised, answered as confirmed)",
            oob.confirmed, oob.cancelled, oob.wrong_answers, oob.locked_out, oob.expired, oob.duress
        );
        println!("state hash    {}", hex(&w.state_hash()));
        print_invariants(
            ok,
            &failures,
            "shares and cash conserved, no ID spent twice, register/ID list/exchange agree, no crossed book",
        );
    }
    Ok(exit(ok))
}

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v
}

struct GatewaySim {
    seed: u64,
    orders: u64,
    investors: u32,
    instruments: u32,
    producers: usize,
    batch: usize,
    json: bool,
}

/// `kabuken simulate --threads N --trusted`: the session on the compact
/// trusted gateway (one sequencer thread; producers submit batches).
fn simulate_gateway(a: &GatewaySim) -> Res {
    use kabuken::certs::CertIdKey;
    use kabuken::crypto::KeyPair;
    use kabuken::runtime::gateway::sim::{drive, market, GatewayMarketConfig};
    use kabuken::runtime::gateway::{DocumentInfo, GatewayConfig, GatewayRuntime};
    if a.investors < 2 || a.instruments == 0 || a.producers == 0 || a.batch == 0 {
        return Err("need at least 2 investors, 1 instrument, 1 producer and a batch of 1".into());
    }
    let orders = usize::try_from(a.orders).map_err(|_| "too many orders")?;
    let pb = spinner("setting up the gateway market (accounts, certificates, flow)");
    let setup = Instant::now();
    let m = market(
        &GatewayMarketConfig {
            seed: a.seed,
            investors: a.investors,
            instruments: a.instruments,
            orders,
            first_instrument: 100,
        },
        a.producers,
    );
    let setup_s = setup.elapsed().as_secs_f64();
    pb.finish_and_clear();
    let certs_before = m.gateway.certificate_count();
    let rt = GatewayRuntime::start(
        m.gateway,
        GatewayConfig {
            max_producers: 2 * a.producers,
            // One submitted batch is one queue entry.
            batch: a.batch,
            ..GatewayConfig::default()
        },
    )?;
    // Three quarters at full speed, the rest at half the measured rate.
    let (full, half): (Vec<_>, Vec<_>) = m
        .flows
        .into_iter()
        .map(|mut f| {
            let rest = f.split_off(f.len() * 3 / 4);
            (f, rest)
        })
        .unzip();
    let before = rt.stats();
    let cpu_before = thread_cpu_seconds("kabuken-gateway");
    let d_full = drive(&rt, &full, a.batch, None);
    let mid = rt.stats();
    let cpu_full = thread_cpu_seconds("kabuken-gateway")
        .zip(cpu_before)
        .map(|(b, a)| b - a);
    let rate = d_full.per_second();
    let d_half = drive(&rt, &half, a.batch, Some(rate / 2.0));
    let out = rt.shutdown();
    let g = out.gateway;
    let mut failures = match g.check_invariants() {
        Ok(()) => Vec::new(),
        Err(e) => e,
    };
    if out.failed {
        failures.push("the sequencer failed".into());
    }
    // The register's documents for every certificate the session made that
    // is still live: batch-signed, off the sequencer, on two threads.
    let serials: Vec<u64> = (certs_before + 1..=g.certificate_count())
        .filter(|&s| {
            g.certificate(s).is_some_and(|c| {
                matches!(
                    c.state,
                    kabuken::certs::IdState::Live | kabuken::certs::IdState::Reserved(_)
                )
            })
        })
        .collect();
    let info = DocumentInfo {
        register_id: 2,
        register_name: "Kabuken Register".into(),
        register_address: "https://register.example/".into(),
        company_name: "Simulated Company".into(),
        company_founded: 20_010_401,
        lifetime: 365 * 86_400_000_000_000,
        holder_names: Vec::new(),
    };
    let key = KeyPair::from_seed(&[7; 32]);
    let ids = CertIdKey::from_bytes([9; 32]);
    let doc_start = Instant::now();
    let docs: usize = std::thread::scope(|s| {
        let hs: Vec<_> = serials
            .chunks(serials.len().div_ceil(2).max(1))
            .map(|part| {
                let (g, info, key, ids) = (&g, &info, &key, &ids);
                s.spawn(move || {
                    part.chunks(512)
                        .map(|c| g.documents(c, info, ids, key, 0).map_or(0, |d| d.len()))
                        .sum::<usize>()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let doc_s = doc_start.elapsed().as_secs_f64();
    if docs != serials.len() {
        failures.push(format!(
            "{} documents made for {} certificates",
            docs,
            serials.len()
        ));
    }
    let ok = failures.is_empty()
        && d_full.answered == d_full.submitted
        && d_half.answered == d_half.submitted;
    let wall = d_full.elapsed.as_secs_f64();
    let seq_busy = (mid.busy_ns - before.busy_ns) as f64 / 1e9;
    let seq_per_busy = (mid.orders - before.orders) as f64 / seq_busy.max(1e-9);
    let gs = *g.stats();
    if a.json {
        let v = serde_json::json!({
            "mode": "trusted-gateway",
            "seed": a.seed,
            "threads": 1,
            "producers": a.producers,
            "batch": a.batch,
            "investors": a.investors,
            "instruments": a.instruments,
            "orders": orders,
            "setup_seconds": setup_s,
            "orders_per_s": rate,
            "verify_ceiling_per_s": 0.0,
            "full_load": {
                "orders": d_full.answered,
                "seconds": wall,
                "reports": d_full.reports,
                "p50_ns": d_full.latency(0.5),
                "p99_ns": d_full.latency(0.99),
                "p999_ns": d_full.latency(0.999),
                "max_ns": d_full.latency(1.0),
            },
            "half_load": {
                "rate_per_s": rate / 2.0,
                "orders": d_half.answered,
                "achieved_per_s": d_half.per_second(),
                "p50_ns": d_half.latency(0.5),
                "p99_ns": d_half.latency(0.99),
                "p999_ns": d_half.latency(0.999),
                "max_ns": d_half.latency(1.0),
            },
            "stages": {
                "sequencer": {
                    "requests": out.stats.orders,
                    "batches": out.stats.batches,
                    "reports": out.stats.reports,
                    "per_busy_s": seq_per_busy,
                    "cpu_seconds_at_full_load": cpu_full,
                    "per_cpu_s": cpu_full.map(|c| d_full.answered as f64 / c.max(1e-9)),
                },
                "documents": {
                    "certificates": docs,
                    "seconds": doc_s,
                    "per_s": docs as f64 / doc_s.max(1e-9),
                },
            },
            "accepted": gs.accepted,
            "refused": gs.refused,
            "fills": gs.fills,
            "transfers": g.transfers().len(),
            "shares": gs.shares.to_string(),
            "state_hash": hex(&g.state_hash()),
            "invariants_ok": ok,
            "failures": failures,
        });
        println!("{v}");
    } else {
        println!(
            "kabuken simulate on the trusted gateway (seed {}): 1 sequencer, {} producers, batches of {}, {} investors, {} instruments",
            a.seed, a.producers, a.batch, a.investors, a.instruments
        );
        println!("setup         {setup_s:.2} s");
        println!(
            "full load     {} orders in {wall:.3} s: {rate:.0} orders/s end to end (reserve, match, certificate transfer, settlement, reports)",
            d_full.answered
        );
        println!(
            "              answer latency (batch submit to answer polled) p50 {} ns, p99 {} ns, p99.9 {} ns",
            d_full.latency(0.5),
            d_full.latency(0.99),
            d_full.latency(0.999)
        );
        let per_cpu = cpu_full.map_or_else(
            || "n/a".to_string(),
            |c| format!("{:.0}", d_full.answered as f64 / c.max(1e-9)),
        );
        println!(
            "stages        sequencer {seq_per_busy:.0} orders/s busy, {per_cpu} orders per CPU second; {} reports",
            out.stats.reports
        );
        println!(
            "half load     {} orders at {:.0}/s: latency p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
            d_half.answered,
            d_half.per_second(),
            d_half.latency(0.5),
            d_half.latency(0.99),
            d_half.latency(0.999),
            d_half.latency(1.0)
        );
        println!(
            "trades        {} fills = {} certificate transfers, {} shares; {} accepted, {} refused",
            gs.fills,
            g.transfers().len(),
            gs.shares,
            gs.accepted,
            gs.refused
        );
        println!(
            "documents     {docs} live certificates batch-signed in {doc_s:.2} s ({:.0}/s, 2 threads, after the session)",
            docs as f64 / doc_s.max(1e-9)
        );
        println!("state hash    {}", hex(&g.state_hash()));
        if ok {
            println!("invariants    all hold");
        } else {
            println!("invariants    VIOLATED: {failures:?}");
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// CPU time (user + system) of this process's thread named `name`, from
/// `/proc/self/task/*/stat` (Linux; 10 ms resolution). `None` elsewhere.
/// Unlike wall time, it does not count the time the thread waited for a
/// core on a shared machine.
fn thread_cpu_seconds(name: &str) -> Option<f64> {
    let mut total = None;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != name {
            continue;
        }
        // After the comm: state (field 3), ..., utime (14), stime (15).
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        *total.get_or_insert(0.0) += ticks as f64 / 100.0;
    }
    total
}

struct RuntimeSim {
    seed: u64,
    orders: u64,
    investors: u32,
    instruments: u32,
    threads: usize,
    producers: usize,
    trusted: bool,
    shared_signing: bool,
    json: bool,
}

/// `kabuken simulate --threads N`: the session on the concurrent runtime.
fn simulate_runtime(a: &RuntimeSim) -> Res {
    use kabuken::runtime::sim::{drive, flow, market, verify_ceiling, MarketConfig};
    use kabuken::runtime::{NotificationSink, Runtime, RuntimeConfig};
    use std::time::Duration;
    if a.investors < 2 || a.instruments == 0 || a.threads == 0 || a.producers == 0 {
        return Err("need at least 2 investors, 1 instrument, 1 thread and 1 producer".into());
    }
    let orders = usize::try_from(a.orders).map_err(|_| "too many orders")?;
    let pb = spinner("setting up the market (keys, attestations, certificates, cash)");
    let setup = Instant::now();
    let mut m = market(&MarketConfig {
        seed: a.seed,
        investors: a.investors,
        instruments: a.instruments,
        orders,
        first_instrument: 100,
    });
    let setup_s = setup.elapsed().as_secs_f64();
    pb.set_message("the investors sign their orders (not part of the measurement)");
    let sign_start = Instant::now();
    let flows = flow(
        &mut m.clients,
        &m.instruments,
        orders,
        a.producers,
        a.seed,
        a.trusted,
    );
    let client_sign_s = sign_start.elapsed().as_secs_f64();
    let directory: std::collections::HashMap<_, _> = m.shard.exchange.identities().keys().collect();
    let ceiling = if a.trusted {
        0.0
    } else {
        pb.set_message("measuring the batch-verification ceiling");
        let sample: Vec<_> = flows.iter().flatten().take(2048).cloned().collect();
        verify_ceiling(&sample, &directory, a.threads, 64, Duration::from_secs(1))
    };
    pb.finish_and_clear();
    let rt = Runtime::start(
        RuntimeConfig {
            verify_workers: a.threads,
            trusted_gateway: a.trusted,
            signing_thread: !a.shared_signing,
            record_latency: true,
            notifications: NotificationSink::Discard,
            ..RuntimeConfig::default()
        },
        vec![m.shard],
    )?;
    // Three quarters at full speed, the rest at half the measured rate.
    let (full, half): (Vec<_>, Vec<_>) = flows
        .into_iter()
        .map(|mut f| {
            let rest = f.split_off(f.len() * 3 / 4);
            (f, rest)
        })
        .unzip();
    let before = rt.stats();
    let mut d_full = drive(&rt, full, None, false);
    // Latency inside the runtime (submit to answer ready), not as the
    // producer threads happen to notice it.
    d_full.latencies_ns = sorted(rt.take_latencies());
    let mid = rt.stats();
    let rate = d_full.per_second();
    let mut d_half = drive(&rt, half, Some(rate / 2.0), false);
    d_half.latencies_ns = sorted(rt.take_latencies());
    let out = rt.shutdown();
    let stats = out.stats;
    let shard = &out.shards[0];
    let failures = match shard
        .exchange
        .check_invariants(&shard.register, &shard.ledger)
    {
        Ok(()) => Vec::new(),
        Err(e) => e,
    };
    let ok = failures.is_empty()
        && d_full.responses == d_full.submitted
        && d_half.responses == d_half.submitted;
    let es = shard.exchange.stats().clone();
    let per_busy = |n: u64, ns: u64| n as f64 / (ns as f64 / 1e9).max(1e-9);
    let wall = d_full.elapsed.as_secs_f64();
    let verify_full = mid.verified - before.verified;
    let seq_full = mid.sequenced - before.sequenced;
    let signed_full = mid.signed_messages - before.signed_messages;
    let ratio = if ceiling > 0.0 { rate / ceiling } else { 0.0 };
    let mode = if a.trusted {
        "trusted-gateway-full"
    } else {
        "signed"
    };
    if a.json {
        let v = serde_json::json!({
            "mode": mode,
            "signing_thread": !a.shared_signing || a.trusted,
            "seed": a.seed,
            "threads": a.threads,
            "producers": a.producers,
            "investors": a.investors,
            "instruments": a.instruments,
            "orders": orders,
            "setup_seconds": setup_s,
            "client_signing_seconds": client_sign_s,
            "orders_per_s": rate,
            "verify_ceiling_per_s": ceiling,
            "ratio_to_ceiling": ratio,
            "full_load": {
                "orders": d_full.responses,
                "seconds": wall,
                "queue_full_retries": d_full.full,
                "p50_ns": d_full.latency(0.5),
                "p99_ns": d_full.latency(0.99),
                "p999_ns": d_full.latency(0.999),
                "max_ns": d_full.latency(1.0),
            },
            "half_load": {
                "rate_per_s": rate / 2.0,
                "orders": d_half.responses,
                "achieved_per_s": d_half.per_second(),
                "p50_ns": d_half.latency(0.5),
                "p99_ns": d_half.latency(0.99),
                "p999_ns": d_half.latency(0.999),
                "max_ns": d_half.latency(1.0),
            },
            "stages": {
                "verify": {
                    "requests": stats.verified,
                    "refused": stats.refused_unverified,
                    "batches": stats.verify_batches,
                    "fallbacks": stats.verify_fallbacks,
                    "per_busy_s": per_busy(stats.verified, stats.verify_busy_ns),
                    "per_s_at_full_load": verify_full as f64 / wall,
                },
                "sequencer": {
                    "requests": stats.sequenced,
                    "per_busy_s": per_busy(stats.sequenced, stats.sequence_busy_ns),
                    "per_s_at_full_load": seq_full as f64 / wall,
                },
                "signing": {
                    "messages": stats.signed_messages,
                    "signatures": stats.signatures,
                    "messages_per_signature": stats.signed_messages as f64 / stats.signatures.max(1) as f64,
                    "per_busy_s": per_busy(stats.signed_messages, stats.sign_busy_ns),
                    "per_s_at_full_load": signed_full as f64 / wall,
                },
            },
            "accepted": d_full.accepted + d_half.accepted,
            "refused": d_full.refused + d_half.refused,
            "trades": es.trades,
            "matches": es.matches,
            "transfers": shard.register.transfers().len(),
            "settlements": shard.ledger.totals().settlements,
            "state_hash": hex(&shard.state_hash()),
            "invariants_ok": ok,
            "failures": failures,
        });
        println!("{v}");
    } else {
        println!(
            "kabuken simulate on the runtime ({mode}, seed {}): {} verification workers, {} producers, {} investors, {} instruments",
            a.seed, a.threads, a.producers, a.investors, a.instruments
        );
        println!("setup         {setup_s:.2} s; investors signed {orders} orders in {client_sign_s:.2} s (not measured)");
        let path = if a.trusted {
            "reception, match, certificate transfer, batch-signed register documents, settlement; no per-order signature"
        } else {
            "verify, match, certificate transfer, batch-signed receipts and notices, settlement"
        };
        println!(
            "full load     {} orders in {wall:.2} s: {rate:.0} orders/s end to end ({path})",
            d_full.responses
        );
        if !a.trusted {
            println!(
                "ceiling       batch verification alone on {} threads: {ceiling:.0} signatures/s; ratio {ratio:.2}",
                a.threads
            );
        }
        println!(
            "stages        verify {:.0}/s busy ({} batches, {} fallbacks); sequencer {:.0}/s busy; signing {:.0} messages/s busy, {:.1} messages per signature",
            per_busy(stats.verified, stats.verify_busy_ns),
            stats.verify_batches,
            stats.verify_fallbacks,
            per_busy(stats.sequenced, stats.sequence_busy_ns),
            per_busy(stats.signed_messages, stats.sign_busy_ns),
            stats.signed_messages as f64 / stats.signatures.max(1) as f64
        );
        println!(
            "half load     {} orders at {:.0}/s: latency p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
            d_half.responses,
            d_half.per_second(),
            d_half.latency(0.5),
            d_half.latency(0.99),
            d_half.latency(0.999),
            d_half.latency(1.0)
        );
        println!(
            "trades        {} book trades, {} matches transferred, {} settlements; {} accepted, {} refused",
            es.trades,
            es.matches,
            shard.ledger.totals().settlements,
            d_full.accepted + d_half.accepted,
            d_full.refused + d_half.refused
        );
        println!("state hash    {}", hex(&shard.state_hash()));
        print_invariants(
            ok,
            &failures,
            "every request answered once; shares and cash conserved, no ID spent twice, no crossed book",
        );
    }
    Ok(exit(ok))
}

/// The report's last line: the invariants held, or each failure.
fn print_invariants(ok: bool, failures: &[String], what: &str) {
    if ok {
        println!("invariants    ok ({what})");
    } else {
        for f in failures {
            println!("INVARIANT FAILED: {f}");
        }
    }
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn check_against_model(msgs: &[Msg]) -> Result<(), String> {
    let cfg = BookConfig::flash();
    let mut book = Book::new(cfg);
    let mut model = ModelBook::new(cfg);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for m in msgs {
        let cmd = match *m {
            Msg::New {
                id,
                side,
                price,
                qty,
                ioc,
                ..
            } => Command::New(
                NewOrder::limit(id, side, price, u64::from(qty)).with_tif(if ioc {
                    TimeInForce::Ioc
                } else {
                    TimeInForce::Gtc
                }),
            ),
            Msg::Cancel { id, .. } => Command::Cancel { id },
            Msg::Modify { id, price, qty, .. } => Command::Modify {
                id,
                price,
                qty: u64::from(qty),
            },
        };
        a.clear();
        b.clear();
        book.apply(&cmd, &mut a);
        model.apply(&cmd, &mut b);
        if a != b {
            return Err(format!("book and model differ at message {}", m.seq()));
        }
    }
    if book.state_hash() != model.state_hash() {
        return Err("book and model end in different states".into());
    }
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
