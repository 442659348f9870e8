//! Tests of the whole flow through the public API, with recording hooks, a
//! simulated clock and a seeded CSPRNG.

use super::*;
use ed25519_dalek::{Signer, SigningKey};
use parking_lot::Mutex;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::collections::HashSet;
use std::sync::Arc;

use crate::types::Side;

const PEPPER: [u8; 32] = [0x42; 32];
const SEAL_SEED: [u8; 32] = [7; 32];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Sent {
    Confirm(String, ConfirmationInfo),
    Lockout(String, RequestRef),
}

#[derive(Default)]
struct Host {
    holds: Mutex<Vec<PendingRequest>>,
    forwards: Mutex<Vec<PendingRequest>>,
    releases: Mutex<Vec<(PendingRequest, ReleaseReason)>>,
    alarms: Mutex<Vec<DuressReport>>,
    sent: Mutex<Vec<Sent>>,
    failing: Mutex<HashSet<String>>,
}

impl Forward for Host {
    fn hold(&self, r: &PendingRequest) {
        self.holds.lock().push(r.clone());
    }
    fn forward(&self, r: &PendingRequest) {
        self.forwards.lock().push(r.clone());
    }
    fn release(&self, r: &PendingRequest, why: ReleaseReason) {
        self.releases.lock().push((r.clone(), why));
    }
}

impl DuressAlarm for Host {
    fn raise(&self, report: &DuressReport) {
        self.alarms.lock().push(report.clone());
    }
}

impl BiometricVerifier for Host {
    fn verify(&self, _c: ContractorId, challenge: &[u8; 32], sample: &[u8]) -> bool {
        // The "device" proves the finger by echoing the challenge.
        sample == challenge
    }
}

impl DeliveryChannel for Host {
    fn deliver(&self, device: &Device, notice: &Notice<'_>) -> Result<(), DeliveryFailed> {
        if self.failing.lock().contains(&device.address) {
            return Err(DeliveryFailed);
        }
        self.sent.lock().push(match notice {
            Notice::Confirmation(i) => Sent::Confirm(device.address.clone(), (*i).clone()),
            Notice::LockedOut { request_ref, .. } => {
                Sent::Lockout(device.address.clone(), *request_ref)
            }
        });
        Ok(())
    }
}

impl Host {
    fn last_info(&self) -> ConfirmationInfo {
        self.sent
            .lock()
            .iter()
            .rev()
            .find_map(|s| match s {
                Sent::Confirm(_, i) => Some(i.clone()),
                Sent::Lockout(..) => None,
            })
            .expect("a confirmation was sent")
    }
    fn finished(&self) -> usize {
        self.forwards.lock().len() + self.releases.lock().len()
    }
}

fn config() -> OobConfig {
    let mut c = OobConfig::new(PEPPER);
    c.argon2 = Argon2Params::INSECURE_FAST;
    c
}

fn hooks(host: &Arc<Host>, biometric: bool) -> Hooks {
    Hooks {
        forward: host.clone(),
        channel: host.clone(),
        alarm: host.clone(),
        biometric: if biometric {
            Some(host.clone() as Arc<dyn BiometricVerifier>)
        } else {
            None
        },
    }
}

fn service_with(c: OobConfig, biometric: bool) -> (Arc<Host>, OobService) {
    let host = Arc::new(Host::default());
    let h = hooks(&host, biometric);
    (host, OobService::new(c, h).unwrap())
}

fn seal_public() -> [u8; 32] {
    SigningKey::from_bytes(&SEAL_SEED)
        .verifying_key()
        .to_bytes()
}

fn spec(user: &str) -> ContractorSpec {
    ContractorSpec {
        user_code: user.to_string(),
        pin: "1234".to_string(),
        devices: vec![
            Device {
                address: format!("pager:{user}"),
                kind: DeviceKind::Pager,
                seal_key: None,
            },
            Device {
                address: format!("app:{user}"),
                kind: DeviceKind::AppPush,
                seal_key: Some(seal_public()),
            },
        ],
        second_codes: vec![
            ("5555".to_string(), Purpose::Normal),
            ("9999".to_string(), Purpose::Duress),
        ],
        threshold: 100_000,
        max_amount: 10_000_000,
        methods: MethodTable {
            rows: vec![
                (0, ConfirmMethod::Code),
                (1_000_000, ConfirmMethod::Seal),
                (5_000_000, ConfirmMethod::Biometric),
            ],
        },
        rolling_window: None,
        delivery: DeliveryMode::Broadcast,
        disabled: false,
    }
}

fn tx(amount: Amount) -> Transaction {
    Transaction {
        instrument: 7203,
        side: Side::Buy,
        quantity: 100,
        limit: Some(2150),
        amount,
    }
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(6)
}

struct World {
    host: Arc<Host>,
    svc: OobService,
    rng: ChaCha20Rng,
    session: SessionToken,
    id: ContractorId,
}

fn world_with(c: OobConfig, s: ContractorSpec) -> World {
    let (host, svc) = service_with(c, true);
    let mut rng = rng();
    let id = svc.register_contractor(&s, 0, &mut rng).unwrap();
    let session = svc.login(&s.user_code, &s.pin, 0, &mut rng).unwrap();
    World {
        host,
        svc,
        rng,
        session,
        id,
    }
}

fn world() -> World {
    world_with(config(), spec("alice"))
}

impl World {
    fn submit(&mut self, amount: Amount, now: Timestamp) -> Result<Submission, OobError> {
        self.svc
            .submit(&self.session, &tx(amount), now, &mut self.rng)
    }
}

fn answer<'a>(info: &'a ConfirmationInfo, second: &'a str) -> Answer<'a> {
    Answer {
        user_code: "alice",
        request_ref: info.request_ref,
        code: &info.code,
        second_code: second,
        tx_digest: info.tx_digest,
        line: info.line,
        proof: Proof::None,
    }
}

// ----- sessions -------------------------------------------------------------

#[test]
fn login_error_is_uniform_and_limited() {
    let (_h, svc) = service_with(config(), false);
    let mut rng = rng();
    let id = svc
        .register_contractor(&spec("alice"), 0, &mut rng)
        .unwrap();
    let unknown = svc.login("bob", "1234", 1, &mut rng).unwrap_err();
    let wrong = svc.login("alice", "4321", 1, &mut rng).unwrap_err();
    assert_eq!(unknown, OobError::AuthenticationFailed);
    assert_eq!(wrong, unknown);
    assert_eq!(unknown.to_string(), "authentication failed");
    // A success resets the counter.
    assert!(svc.login("alice", "1234", 2, &mut rng).is_ok());
    for _ in 0..4 {
        let _ = svc.login("alice", "0000", 3, &mut rng);
    }
    assert_eq!(svc.is_disabled(id), Some(false));
    assert_eq!(
        svc.login("alice", "0000", 3, &mut rng),
        Err(OobError::AuthenticationFailed)
    );
    assert_eq!(svc.is_disabled(id), Some(true));
    // Now even the right PIN gets the same error.
    assert_eq!(
        svc.login("alice", "1234", 4, &mut rng),
        Err(OobError::AuthenticationFailed)
    );
    svc.enable_contractor(id, 5).unwrap();
    assert!(svc.login("alice", "1234", 6, &mut rng).is_ok());
    assert_eq!(svc.verify_audit(), Ok(()));
}

#[test]
fn sessions_check_secret_expiry_and_logout() {
    let mut w = world();
    let mut forged = w.session.clone();
    forged.secret[0] ^= 1;
    assert_eq!(
        w.svc.submit(&forged, &tx(10), 1, &mut w.rng),
        Err(OobError::InvalidSession)
    );
    let ttl = w.svc.config().session_ttl;
    assert_eq!(w.submit(10, ttl), Err(OobError::InvalidSession));
    assert!(w.submit(10, ttl - 1).is_ok());
    w.svc.logout(&w.session.clone(), 2);
    assert_eq!(w.submit(10, 3), Err(OobError::InvalidSession));
    // The session secret is not in the Debug output.
    assert!(!format!("{:?}", w.session).contains("secret"));
}

#[test]
fn registration_is_validated() {
    let (_h, svc) = service_with(config(), false);
    let mut rng = rng();
    let check = |s: ContractorSpec, e: RecordError, rng: &mut ChaCha20Rng| {
        assert_eq!(
            svc.register_contractor(&s, 0, rng),
            Err(OobError::InvalidRecord(e))
        );
    };
    let mut s = spec("a");
    s.user_code.clear();
    check(s, RecordError::UserCode, &mut rng);
    let mut s = spec("a");
    s.pin = "12".into();
    check(s, RecordError::Pin, &mut rng);
    let mut s = spec("a");
    s.devices.clear();
    check(s, RecordError::NoDevice, &mut rng);
    let mut s = spec("a");
    s.devices[1].seal_key = Some([0; 32]); // small order: weak
    check(s, RecordError::SealKey, &mut rng);
    let mut s = spec("a");
    s.second_codes.retain(|c| c.1 == Purpose::Duress);
    check(s, RecordError::NoNormalSecondCode, &mut rng);
    let mut s = spec("a");
    s.second_codes.push(("5555".into(), Purpose::Duress));
    check(s, RecordError::DuplicateSecondCode, &mut rng);
    let mut s = spec("a");
    s.methods.rows.swap(0, 1);
    check(s, RecordError::MethodTableOrder, &mut rng);
    let mut s = spec("a");
    s.devices[1].seal_key = None;
    check(s, RecordError::SealWithoutKey, &mut rng);
    let mut s = spec("a");
    s.rolling_window = Some(0);
    check(s, RecordError::ZeroDuration, &mut rng);
    svc.register_contractor(&spec("a"), 0, &mut rng).unwrap();
    assert_eq!(
        svc.register_contractor(&spec("a"), 0, &mut rng),
        Err(OobError::DuplicateUserCode)
    );
    let mut c = config();
    c.code_digits = 5;
    assert!(matches!(
        OobService::new(c, hooks(&Arc::new(Host::default()), false)),
        Err(OobError::InvalidConfig(ConfigError::CodeDigits))
    ));
    let mut c = config();
    c.code_digits = 6;
    c.max_pending_per_contractor = 5_001;
    assert!(matches!(
        OobService::new(c, hooks(&Arc::new(Host::default()), false)),
        Err(OobError::InvalidConfig(ConfigError::PendingLimit))
    ));
    let mut c = config();
    c.max_wrong_answers = 0;
    assert!(matches!(
        OobService::new(c, hooks(&Arc::new(Host::default()), false)),
        Err(OobError::InvalidConfig(ConfigError::Zero))
    ));
    let mut c = config();
    c.callback_lines = vec![1, 1];
    assert!(matches!(
        OobService::new(c, hooks(&Arc::new(Host::default()), false)),
        Err(OobError::InvalidConfig(ConfigError::DuplicateLine))
    ));
}

// ----- requests ---------------------------------------------------------------

#[test]
fn threshold_maximum_and_disabled() {
    let mut w = world();
    let s = w.submit(100_000, 1).unwrap();
    assert_eq!(s.disposition, Disposition::ForwardNow);
    assert_eq!(s.request.method, ConfirmMethod::None);
    assert!(w.host.holds.lock().is_empty());
    assert!(w.host.sent.lock().is_empty());
    assert_eq!(w.submit(10_000_001, 1), Err(OobError::AboveMaximum));
    assert_eq!(w.svc.pending_count(w.id), Some(0));
    let s = w.submit(100_001, 1).unwrap();
    assert_eq!(s.disposition, Disposition::HoldPending);
    assert_eq!(s.request.method, ConfirmMethod::Code);
    assert_eq!(w.host.holds.lock().len(), 1);
    // Broadcast: both devices got it.
    assert_eq!(w.host.sent.lock().len(), 2);
    w.svc.disable_contractor(w.id, 2).unwrap();
    assert_eq!(w.submit(10, 3), Err(OobError::ContractorDisabled));
    // Disabling voided the pending request.
    assert_eq!(w.host.releases.lock()[0].1, ReleaseReason::Disabled);
    assert_eq!(w.svc.pending_count(w.id), Some(0));
}

#[test]
fn confirmation_forwards_once_and_duplicates_are_idempotent() {
    let mut w = world();
    let s = w.submit(200_000, 10).unwrap();
    let info = w.host.last_info();
    assert_eq!(info.request_ref, s.request.request_ref);
    assert_eq!(info.code.len(), 8);
    assert_ne!(info.code, info.cancel_code);
    let r = w.svc.answer(&answer(&info, "5555"), 11).unwrap();
    assert_eq!(
        r,
        ConfirmResponse::Accepted {
            request_ref: info.request_ref
        }
    );
    assert_eq!(w.host.forwards.lock().len(), 1);
    assert!(w.host.forwards.lock()[0].matches(&tx(200_000)));
    assert!(!w.host.forwards.lock()[0].matches(&tx(200_001)));
    // Duplicate: same response, no second forward.
    assert_eq!(w.svc.answer(&answer(&info, "5555"), 12), Ok(r));
    // A different answer to a finished request: the uniform error, not a
    // wrong answer.
    assert_eq!(
        w.svc.answer(&answer(&info, "0000"), 12),
        Err(OobError::AnswerRejected)
    );
    // Cancel after confirm: nothing.
    let mut c = answer(&info, "5555");
    c.code = &info.cancel_code;
    assert_eq!(w.svc.answer(&c, 12), Err(OobError::AnswerRejected));
    assert_eq!(w.host.finished(), 1);
    let st = w.svc.stats();
    assert_eq!(st.confirmed, 1);
    assert_eq!(st.wrong_answers, 0);
    assert_eq!(w.svc.pending_count(w.id), Some(0));
    // Unknown requests and users: the same uniform error.
    let mut u = answer(&info, "5555");
    u.request_ref = RequestRef(999);
    assert_eq!(w.svc.answer(&u, 12), Err(OobError::AnswerRejected));
    let mut u = answer(&info, "5555");
    u.user_code = "mallory";
    assert_eq!(w.svc.answer(&u, 12), Err(OobError::AnswerRejected));
    assert_eq!(w.svc.verify_audit(), Ok(()));
}

#[test]
fn duress_response_is_byte_identical_to_success() {
    // Two identical worlds, identical inputs, except the second code.
    let mut a = world();
    let mut b = world();
    a.submit(300_000, 5).unwrap();
    b.submit(300_000, 5).unwrap();
    let ia = a.host.last_info();
    let ib = b.host.last_info();
    assert_eq!(ia, ib);
    let ra = a.svc.answer(&answer(&ia, "5555"), 6);
    let rb = b.svc.answer(&answer(&ib, "9999"), 6);
    assert_eq!(ra, rb);
    assert_eq!(ra.unwrap().encode(), rb.unwrap().encode());
    // Repeats also look alike.
    assert_eq!(
        a.svc.answer(&answer(&ia, "5555"), 7).unwrap().encode(),
        b.svc.answer(&answer(&ib, "9999"), 7).unwrap().encode()
    );
    assert_eq!(
        b.svc.answer(&answer(&ib, "5555"), 7).unwrap().encode(),
        ra.unwrap().encode()
    );
    // But the effects differ.
    assert_eq!(a.host.forwards.lock().len(), 1);
    assert!(a.host.alarms.lock().is_empty());
    assert!(b.host.forwards.lock().is_empty());
    assert_eq!(b.host.releases.lock()[0].1, ReleaseReason::Duress);
    let alarms = b.host.alarms.lock();
    assert_eq!(alarms.len(), 1);
    assert_eq!(alarms[0].user_code, "alice");
    assert_eq!(alarms[0].request.request_ref, ib.request_ref);
    assert!(!alarms[0].with_cancel);
    assert_eq!(b.svc.stats().duress, 1);
    assert_eq!(b.svc.stats().confirmed, 0);
}

#[test]
fn cancel_code_cancels() {
    let mut w = world();
    w.submit(150_000, 1).unwrap();
    let info = w.host.last_info();
    let mut c = answer(&info, "5555");
    c.code = &info.cancel_code;
    let r = w.svc.answer(&c, 2).unwrap();
    assert_eq!(
        r,
        ConfirmResponse::Cancelled {
            request_ref: info.request_ref
        }
    );
    assert_ne!(
        r.encode(),
        ConfirmResponse::Accepted {
            request_ref: info.request_ref
        }
        .encode()
    );
    assert_eq!(w.svc.answer(&c, 3), Ok(r));
    assert_eq!(
        w.svc.answer(&answer(&info, "5555"), 3),
        Err(OobError::AnswerRejected)
    );
    assert_eq!(w.host.releases.lock().len(), 1);
    assert_eq!(w.host.releases.lock()[0].1, ReleaseReason::Cancelled);
    assert_eq!(w.svc.stats().cancelled, 1);
    // Cancel under duress: cancelled, and the alarm is raised.
    w.submit(150_000, 4).unwrap();
    let info = w.host.last_info();
    let mut c = answer(&info, "9999");
    c.code = &info.cancel_code;
    assert!(matches!(
        w.svc.answer(&c, 5),
        Ok(ConfirmResponse::Cancelled { .. })
    ));
    assert!(w.host.alarms.lock()[0].with_cancel);
    assert_eq!(w.svc.stats().cancelled, 2);
    assert_eq!(w.svc.stats().duress, 1);
}

#[test]
fn lockout_after_exactly_the_limit() {
    let mut w = world();
    w.submit(150_000, 1).unwrap();
    let other = w.host.last_info();
    w.submit(160_000, 1).unwrap();
    let info = w.host.last_info();
    let wrong_code = if info.code == "00000000" {
        "00000001"
    } else {
        "00000000"
    };
    let limit = w.svc.config().max_wrong_answers;
    for i in 1..limit {
        let mut a = answer(&info, "5555");
        if i % 2 == 0 {
            a.code = wrong_code;
        } else {
            a.second_code = "1111";
        }
        assert_eq!(w.svc.answer(&a, 2), Err(OobError::AnswerRejected));
        assert_eq!(w.svc.is_disabled(w.id), Some(false));
        assert_eq!(w.svc.pending_count(w.id), Some(2));
    }
    assert_eq!(w.svc.stats().wrong_answers, u64::from(limit - 1));
    let mut a = answer(&info, "5555");
    a.code = "garbage";
    assert_eq!(w.svc.answer(&a, 2), Err(OobError::AnswerRejected));
    assert_eq!(w.svc.is_disabled(w.id), Some(true));
    assert_eq!(w.svc.pending_count(w.id), Some(0));
    let st = w.svc.stats();
    assert_eq!(st.wrong_answers, u64::from(limit));
    assert_eq!(st.locked_out, 1);
    let rel = w.host.releases.lock().clone();
    assert_eq!(rel.len(), 2);
    assert!(rel.iter().all(|(_, why)| *why == ReleaseReason::LockedOut));
    // The holder was told on every device.
    let lockouts: Vec<_> = w
        .host
        .sent
        .lock()
        .iter()
        .filter(|s| matches!(s, Sent::Lockout(_, r) if *r == info.request_ref))
        .cloned()
        .collect();
    assert_eq!(lockouts.len(), 2);
    // The right answer now changes nothing.
    assert_eq!(
        w.svc.answer(&answer(&info, "5555"), 3),
        Err(OobError::AnswerRejected)
    );
    assert_eq!(
        w.svc.answer(&answer(&other, "5555"), 3),
        Err(OobError::AnswerRejected)
    );
    assert!(w.host.forwards.lock().is_empty());
    assert_eq!(w.submit(10, 4), Err(OobError::ContractorDisabled));
}

#[test]
fn wrong_answers_spread_over_requests_still_lock_out() {
    let limit = config().max_wrong_answers as usize;
    // Guesses spread over several requests reach the limit.
    let mut w = world();
    let mut infos = Vec::new();
    for _ in 0..limit {
        w.submit(150_000, 1).unwrap();
        infos.push(w.host.last_info());
    }
    for info in infos.iter().take(limit - 1) {
        let _ = w.svc.answer(&answer(info, "0000"), 2);
        assert_eq!(w.svc.is_disabled(w.id), Some(false));
    }
    let _ = w.svc.answer(&answer(&infos[0], "0000"), 2);
    assert_eq!(w.svc.is_disabled(w.id), Some(true));
    assert_eq!(w.svc.stats().locked_out, 1);
    assert_eq!(w.host.releases.lock().len(), limit);
    // A successful answer resets the streak (each request keeps its own
    // count).
    let mut w = world();
    let mut infos = Vec::new();
    for _ in 0..limit + 1 {
        w.submit(150_000, 1).unwrap();
        infos.push(w.host.last_info());
    }
    for info in infos.iter().take(limit - 1) {
        let _ = w.svc.answer(&answer(info, "0000"), 2);
    }
    w.svc.answer(&answer(&infos[limit], "5555"), 2).unwrap();
    for info in infos.iter().take(limit - 1) {
        let _ = w.svc.answer(&answer(info, "0000"), 2);
        assert_eq!(w.svc.is_disabled(w.id), Some(false));
    }
    let _ = w.svc.answer(&answer(&infos[limit - 1], "0000"), 2);
    assert_eq!(w.svc.is_disabled(w.id), Some(true));
    assert_eq!(w.svc.stats().wrong_answers, 2 * limit as u64 - 1);
}

#[test]
fn expiry_releases_reservations() {
    let mut w = world();
    let ttl = w.svc.config().request_ttl;
    assert_eq!(ttl, 300 * SECOND);
    w.submit(150_000, 0).unwrap();
    let late = w.host.last_info();
    w.submit(150_000, 10).unwrap();
    let swept = w.host.last_info();
    // An answer just too late.
    assert_eq!(
        w.svc.answer(&answer(&late, "5555"), ttl),
        Err(OobError::AnswerRejected)
    );
    assert_eq!(w.host.releases.lock()[0].1, ReleaseReason::Expired);
    let rep = w.svc.sweep(ttl + 9);
    assert_eq!(rep.expired, 0);
    let rep = w.svc.sweep(ttl + 10);
    assert_eq!(rep.expired, 1);
    assert_eq!(w.host.releases.lock()[1].0.request_ref, swept.request_ref);
    assert_eq!(w.svc.stats().expired, 2);
    assert_eq!(w.svc.pending_count(w.id), Some(0));
    assert!(w.host.forwards.lock().is_empty());
    // Finished requests are forgotten finished_ttl after they finished.
    let fttl = w.svc.config().finished_ttl;
    assert_eq!(w.svc.sweep(ttl + fttl - 1).purged, 0);
    assert_eq!(w.svc.sweep(ttl + fttl).purged, 1);
    assert_eq!(w.svc.sweep(ttl + 10 + fttl).purged, 1);
    assert_eq!(w.svc.verify_audit(), Ok(()));
}

#[test]
fn codes_are_bound_to_the_transaction_and_request() {
    let mut w = world();
    w.submit(150_000, 1).unwrap();
    let a = w.host.last_info();
    w.submit(150_000, 1).unwrap();
    let b = w.host.last_info();
    assert_eq!(a.tx_digest, b.tx_digest);
    // A's code on B.
    let mut x = answer(&b, "5555");
    x.code = &a.code;
    assert_eq!(w.svc.answer(&x, 2), Err(OobError::AnswerRejected));
    // B's code for a changed transaction.
    let mut changed = tx(150_000);
    changed.quantity += 1;
    let mut y = answer(&b, "5555");
    y.tx_digest = changed.digest();
    assert_eq!(w.svc.answer(&y, 2), Err(OobError::AnswerRejected));
    assert_eq!(w.svc.stats().wrong_answers, 2);
    // A's code on A still works; then it is spent.
    assert!(w.svc.answer(&answer(&a, "5555"), 2).is_ok());
    let mut z = answer(&b, "5555");
    z.code = &a.code;
    assert_eq!(w.svc.answer(&z, 2), Err(OobError::AnswerRejected));
    assert!(w.svc.answer(&answer(&b, "5555"), 2).is_ok());
    assert_eq!(w.host.forwards.lock().len(), 2);
}

#[test]
fn code_space_and_uniqueness() {
    let mut c = config();
    c.code_digits = 6;
    c.max_pending_per_contractor = 500;
    let mut w = world_with(c, spec("alice"));
    let mut codes = HashSet::new();
    for i in 0..500 {
        w.submit(150_000, i).unwrap();
        let info = w.host.last_info();
        assert_eq!(info.code.len(), 6);
        assert!(info.code.bytes().all(|b| b.is_ascii_digit()));
        assert!(codes.insert(info.code.clone()), "confirm code reused");
        assert!(codes.insert(info.cancel_code.clone()), "cancel code reused");
    }
    assert_eq!(w.submit(150_000, 1), Err(OobError::TooManyPending));
    assert_eq!(w.svc.pending_count(w.id), Some(500));
}

#[test]
fn callback_lines_are_random_free_and_checked() {
    let mut c = config();
    c.callback_lines = vec![11, 12, 13];
    let mut w = world_with(c, spec("alice"));
    let mut infos = Vec::new();
    for _ in 0..3 {
        w.submit(150_000, 1).unwrap();
        infos.push(w.host.last_info());
    }
    let mut lines: Vec<_> = infos.iter().map(|i| i.line.unwrap()).collect();
    lines.sort_unstable();
    assert_eq!(lines, vec![11, 12, 13]);
    assert_eq!(w.submit(150_000, 1), Err(OobError::NoFreeCallbackLine));
    // Wrong line is a wrong answer.
    let mut a = answer(&infos[0], "5555");
    a.line = Some(if infos[0].line == Some(11) { 12 } else { 11 });
    assert_eq!(w.svc.answer(&a, 2), Err(OobError::AnswerRejected));
    assert_eq!(w.svc.stats().wrong_answers, 1);
    assert!(w.svc.answer(&answer(&infos[0], "5555"), 2).is_ok());
    // Its line is free again.
    w.submit(150_000, 3).unwrap();
    assert_eq!(w.host.last_info().line, infos[0].line);
    assert!(w.host.last_info().short_text().contains(" L1"));
}

#[test]
fn seal_method_needs_a_signature_over_the_summary() {
    let mut w = world();
    let s = w.submit(2_000_000, 1).unwrap();
    assert_eq!(s.request.method, ConfirmMethod::Seal);
    let info = w.host.last_info();
    let key = SigningKey::from_bytes(&SEAL_SEED);
    // No proof: wrong answer.
    assert_eq!(
        w.svc.answer(&answer(&info, "5555"), 2),
        Err(OobError::AnswerRejected)
    );
    // A signature over another transaction: wrong.
    let other = tx(2_000_001).digest();
    let bad = key.sign(&seal_message(info.request_ref, &other, &info.code));
    let mut a = answer(&info, "5555");
    a.proof = Proof::Seal(bad.to_bytes());
    assert_eq!(w.svc.answer(&a, 2), Err(OobError::AnswerRejected));
    // A signature by another key: wrong.
    let stranger = SigningKey::from_bytes(&[8; 32]);
    let msg = seal_message(info.request_ref, &info.tx_digest, &info.code);
    a.proof = Proof::Seal(stranger.sign(&msg).to_bytes());
    assert_eq!(w.svc.answer(&a, 2), Err(OobError::AnswerRejected));
    a.proof = Proof::Seal(key.sign(&msg).to_bytes());
    assert!(matches!(
        w.svc.answer(&a, 2),
        Ok(ConfirmResponse::Accepted { .. })
    ));
    assert_eq!(w.svc.stats().wrong_answers, 3);
    assert_eq!(w.host.forwards.lock().len(), 1);
}

#[test]
fn biometric_method_uses_the_verifier() {
    let mut w = world();
    let s = w.submit(6_000_000, 1).unwrap();
    assert_eq!(s.request.method, ConfirmMethod::Biometric);
    let info = w.host.last_info();
    let mut a = answer(&info, "5555");
    a.proof = Proof::Biometric(b"not the finger");
    assert_eq!(w.svc.answer(&a, 2), Err(OobError::AnswerRejected));
    let challenge = biometric_challenge(info.request_ref, &info.tx_digest);
    a.proof = Proof::Biometric(&challenge);
    assert!(w.svc.answer(&a, 2).is_ok());
    // Without a verifier the method is unavailable.
    let (_h, svc) = service_with(config(), false);
    let mut rng = rng();
    svc.register_contractor(&spec("alice"), 0, &mut rng)
        .unwrap();
    let t = svc.login("alice", "1234", 0, &mut rng).unwrap();
    assert_eq!(
        svc.submit(&t, &tx(6_000_000), 1, &mut rng),
        Err(OobError::MethodUnavailable)
    );
    assert_eq!(svc.pending_count(0), Some(0));
}

#[test]
fn rolling_window_catches_split_orders() {
    let mut s = spec("alice");
    s.rolling_window = Some(3600 * SECOND);
    let mut w = world_with(config(), s);
    assert_eq!(
        w.submit(40_000, 1).unwrap().disposition,
        Disposition::ForwardNow
    );
    assert_eq!(
        w.submit(40_000, 2).unwrap().disposition,
        Disposition::ForwardNow
    );
    assert_eq!(
        w.submit(40_000, 3).unwrap().disposition,
        Disposition::HoldPending
    );
    // Cancelling takes its amount out of the total again.
    let info = w.host.last_info();
    let mut c = answer(&info, "5555");
    c.code = &info.cancel_code;
    w.svc.answer(&c, 4).unwrap();
    assert_eq!(
        w.submit(20_000, 5).unwrap().disposition,
        Disposition::ForwardNow
    );
    assert_eq!(
        w.submit(20_001, 5).unwrap().disposition,
        Disposition::HoldPending
    );
    // An hour after the first ones, they no longer count.
    let later = 3600 * SECOND + 3;
    assert_eq!(
        w.submit(40_000, later).unwrap().disposition,
        Disposition::ForwardNow
    );
}

#[test]
fn sequential_delivery_falls_back() {
    let mut s = spec("alice");
    s.devices.push(Device {
        address: "sms:alice".into(),
        kind: DeviceKind::Sms,
        seal_key: None,
    });
    s.delivery = DeliveryMode::Sequential {
        fallback_after: 30 * SECOND,
    };
    let mut w = world_with(config(), s);
    w.host.failing.lock().insert("pager:alice".into());
    w.submit(150_000, 0).unwrap();
    let sent = |w: &World| -> Vec<String> {
        w.host
            .sent
            .lock()
            .iter()
            .map(|s| match s {
                Sent::Confirm(a, _) | Sent::Lockout(a, _) => a.clone(),
            })
            .collect()
    };
    // The pager failed: the app got it at once.
    assert_eq!(sent(&w), vec!["app:alice"]);
    assert_eq!(w.svc.sweep(30 * SECOND - 1).fallbacks, 0);
    assert_eq!(sent(&w).len(), 1);
    assert_eq!(w.svc.sweep(30 * SECOND).fallbacks, 1);
    assert_eq!(sent(&w), vec!["app:alice", "sms:alice"]);
    // No more devices.
    assert_eq!(w.svc.sweep(90 * SECOND).fallbacks, 0);
    // An answered request stops the fallback.
    w.submit(150_000, 100 * SECOND).unwrap();
    let info = w.host.last_info();
    w.svc.answer(&answer(&info, "5555"), 101 * SECOND).unwrap();
    assert_eq!(w.svc.sweep(200 * SECOND).fallbacks, 0);
}

#[test]
fn renderings_carry_the_summary_and_codes() {
    let mut w = world();
    w.submit(215_000, 0).unwrap();
    let info = w.host.last_info();
    let short = info.short_text();
    assert!(short.contains("BUY 7203 x100 @2150 =215000"), "{short}");
    assert!(short.contains(&info.code));
    assert!(short.contains(&info.cancel_code));
    assert!(short.ends_with(" 300s"));
    assert!(short.len() <= 160, "fits one SMS: {short}");
    let spoken = info.spoken_text();
    assert!(spoken.contains("buy 100 shares of instrument 7203"));
    assert!(!spoken.contains(&info.code), "codes are spelled out");
}

#[test]
fn audit_chain_records_decisions_and_detects_tampering() {
    let mut w = world();
    w.submit(50, 1).unwrap();
    w.submit(150_000, 2).unwrap();
    let info = w.host.last_info();
    let _ = w.svc.answer(&answer(&info, "0000"), 3);
    w.svc.answer(&answer(&info, "5555"), 4).unwrap();
    w.svc.verify_audit().unwrap();
    let kinds: Vec<_> = w.svc.audit_records().iter().map(|r| r.entry.kind).collect();
    for k in [
        AuditKind::ContractorRegistered,
        AuditKind::LoginSucceeded,
        AuditKind::ForwardedDirect,
        AuditKind::Pending,
        AuditKind::Delivered,
        AuditKind::WrongAnswer,
        AuditKind::Confirmed,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing");
    }
    let head = w.svc.audit_head();
    let recs = w.svc.audit_records();
    let g = genesis();
    assert_eq!(verify_segment(&g, &recs, Some(&head)), Ok(()));
    let confirmed = recs
        .iter()
        .position(|r| r.entry.kind == AuditKind::Confirmed)
        .unwrap();
    let mut t = recs.clone();
    t[confirmed].entry.kind = AuditKind::Cancelled;
    assert_eq!(
        verify_segment(&g, &t, Some(&head)).unwrap_err().index,
        confirmed
    );
    let mut t = recs.clone();
    t.remove(2);
    assert_eq!(verify_segment(&g, &t, Some(&head)).unwrap_err().index, 2);
    let mut t = recs.clone();
    t.insert(1, recs[3]);
    assert_eq!(verify_segment(&g, &t, Some(&head)).unwrap_err().index, 1);
    let t = &recs[..recs.len() - 1];
    assert_eq!(
        verify_segment(&g, t, Some(&head)).unwrap_err().kind,
        ViolationKind::Head
    );
    // Draining keeps the chain.
    let (base, drained) = w.svc.drain_audit();
    assert_eq!(base, g);
    assert_eq!(drained, recs);
    w.submit(50, 5).unwrap();
    w.svc.verify_audit().unwrap();
    let mut all = drained;
    all.extend(w.svc.audit_records());
    assert_eq!(verify_segment(&g, &all, Some(&w.svc.audit_head())), Ok(()));
}

#[test]
fn concurrent_answers_finish_a_request_exactly_once() {
    for round in 0..20u64 {
        let mut w = world();
        w.submit(150_000, 1).unwrap();
        let info = w.host.last_info();
        let svc = Arc::new(w.svc);
        let outcomes: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|t| {
                    let svc = svc.clone();
                    let info = info.clone();
                    s.spawn(move || {
                        let mut a =
                            answer(&info, if (t + round) % 3 == 0 { "9999" } else { "5555" });
                        if (t + round) % 4 == 1 {
                            a.code = &info.cancel_code;
                        }
                        svc.answer(&a, 2)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(w.host.finished(), 1, "round {round}: {outcomes:?}");
        assert_eq!(w.host.holds.lock().len(), 1);
        let st = svc.stats();
        let duress_cancels = w
            .host
            .alarms
            .lock()
            .iter()
            .filter(|a| a.with_cancel)
            .count() as u64;
        assert_eq!(st.confirmed + st.cancelled + st.duress - duress_cancels, 1);
        // Every Ok is the winner's response repeated.
        let oks: HashSet<_> = outcomes.iter().filter_map(|o| o.ok()).collect();
        assert_eq!(oks.len(), 1, "{outcomes:?}");
        svc.verify_audit().unwrap();
    }
}

#[test]
fn secrets_stay_out_of_debug_and_stats_render() {
    let s = format!("{:?}", spec("alice"));
    assert!(
        !s.contains("1234") && !s.contains("5555") && !s.contains("9999"),
        "{s}"
    );
    let mut w = world();
    w.submit(150_000, 1).unwrap();
    let info = w.host.last_info();
    let a = format!("{:?}", answer(&info, "5555"));
    assert!(!a.contains(&info.code) && !a.contains("5555"), "{a}");
    w.svc.answer(&answer(&info, "5555"), 2).unwrap();
    assert_eq!(
        w.svc.stats().to_json(),
        r#"{"confirmed":1,"cancelled":0,"wrong_answers":0,"locked_out":0,"expired":0,"duress":0}"#
    );
}

#[test]
fn many_threads_many_contractors() {
    let (host, svc) = service_with(config(), false);
    let mut rng = rng();
    let users: Vec<String> = (0..4).map(|i| format!("user{i}")).collect();
    let sessions: Vec<SessionToken> = users
        .iter()
        .map(|u| {
            svc.register_contractor(&spec(u), 0, &mut rng).unwrap();
            svc.login(u, "1234", 0, &mut rng).unwrap()
        })
        .collect();
    // One thread per contractor submits and answers its own requests, all
    // sharing the service; one answer in ten uses the duress code.
    std::thread::scope(|s| {
        for (t, (u, session)) in users.iter().zip(&sessions).enumerate() {
            let svc = &svc;
            let host = &host;
            s.spawn(move || {
                let mut rng = ChaCha20Rng::seed_from_u64(t as u64 + 100);
                for i in 0..100u64 {
                    let sub = svc
                        .submit(session, &tx(150_000 + i), 1 + i, &mut rng)
                        .unwrap();
                    let info = host
                        .sent
                        .lock()
                        .iter()
                        .rev()
                        .find_map(|x| match x {
                            Sent::Confirm(_, inf) if inf.request_ref == sub.request.request_ref => {
                                Some(inf.clone())
                            }
                            _ => None,
                        })
                        .unwrap();
                    let mut a = answer(&info, if i % 10 == 0 { "9999" } else { "5555" });
                    a.user_code = u;
                    assert!(svc.answer(&a, 2 + i).is_ok());
                }
            });
        }
    });
    let st = svc.stats();
    assert_eq!(st.confirmed, 360);
    assert_eq!(st.duress, 40);
    assert_eq!(host.forwards.lock().len(), 360);
    assert_eq!(host.releases.lock().len(), 40);
    assert_eq!(host.holds.lock().len(), 400);
    svc.verify_audit().unwrap();
}

/// A "random" generator that always says the same thing.
struct Stuck;
impl rand_core::RngCore for Stuck {
    fn next_u32(&mut self) -> u32 {
        7
    }
    fn next_u64(&mut self) -> u64 {
        7
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(7);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        dest.fill(7);
        Ok(())
    }
}
impl rand_core::CryptoRng for Stuck {}

#[test]
fn a_broken_rng_gets_an_error_not_a_hang() {
    let mut w = world();
    assert_eq!(
        w.svc.submit(&w.session, &tx(150_000), 1, &mut Stuck),
        Err(OobError::RandomnessFailure)
    );
    assert_eq!(w.svc.pending_count(w.id), Some(0));
    assert!(w.host.holds.lock().is_empty());
    // Below the threshold no randomness is needed.
    assert!(w.svc.submit(&w.session, &tx(10), 1, &mut Stuck).is_ok());
    assert!(w.submit(150_000, 1).is_ok());
}

#[test]
fn service_is_sync_and_send() {
    fn check<T: Send + Sync>() {}
    check::<OobService>();
}

mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Submit(Amount),
        Confirm(usize),
        Duress(usize),
        Cancel(usize),
        Wrong(usize),
        Tick(Timestamp),
        Sweep,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u64..400_000).prop_map(Op::Submit),
            2 => any::<usize>().prop_map(Op::Confirm),
            1 => any::<usize>().prop_map(Op::Duress),
            1 => any::<usize>().prop_map(Op::Cancel),
            2 => any::<usize>().prop_map(Op::Wrong),
            2 => (0u64..200).prop_map(|s| Op::Tick(s * SECOND)),
            1 => Just(Op::Sweep),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Arbitrary answers never panic, never finish anything they should
        /// not, and get the uniform error.
        #[test]
        fn garbage_answers_are_rejected_without_panic(
            user in "\\PC{0,12}",
            code in "\\PC{0,14}",
            second in "\\PC{0,10}",
            r in 0u64..4,
            digest in any::<[u8; 32]>(),
            line in any::<Option<u16>>(),
            sig in proptest::collection::vec(any::<u8>(), 64),
        ) {
            let mut w = world();
            w.submit(2_000_000, 1).unwrap();
            let mut s = [0u8; 64];
            s.copy_from_slice(&sig);
            let a = Answer {
                user_code: &user,
                request_ref: RequestRef(r),
                code: &code,
                second_code: &second,
                tx_digest: TxDigest(digest),
                line,
                proof: Proof::Seal(s),
            };
            prop_assert_eq!(w.svc.answer(&a, 2), Err(OobError::AnswerRejected));
            prop_assert_eq!(w.host.finished(), 0);
            prop_assert!(w.svc.verify_audit().is_ok());
        }

        /// Under a simulated clock: every held request is finished exactly
        /// once by the end, the counters agree with the hooks, and a simple
        /// model of each request's fate agrees with the service.
        #[test]
        fn state_machine(ops in proptest::collection::vec(op(), 1..80)) {
            let mut w = world();
            let mut now: Timestamp = 1;
            let mut infos: Vec<ConfirmationInfo> = Vec::new();
            // Model: request ref -> final? ; failures per request; disabled.
            let mut done: HashSet<RequestRef> = HashSet::new();
            let mut disabled = false;
            let mut failures: std::collections::HashMap<RequestRef, u32> = Default::default();
            let mut streak = 0u32;
            let ttl = w.svc.config().request_ttl;
            for op in ops {
                let pick = |i: usize, infos: &Vec<ConfirmationInfo>| {
                    if infos.is_empty() { None } else { Some(infos[i % infos.len()].clone()) }
                };
                match op {
                    Op::Submit(a) => {
                        let r = w.submit(a, now);
                        if disabled {
                            prop_assert_eq!(r, Err(OobError::ContractorDisabled));
                        } else if a <= 100_000 {
                            prop_assert_eq!(r.unwrap().disposition, Disposition::ForwardNow);
                        } else {
                            prop_assert_eq!(r.unwrap().disposition, Disposition::HoldPending);
                            infos.push(w.host.last_info());
                        }
                    }
                    Op::Confirm(i) | Op::Duress(i) | Op::Cancel(i) => {
                        let Some(info) = pick(i, &infos) else { continue };
                        let second = if matches!(op, Op::Duress(_)) { "9999" } else { "5555" };
                        let mut a = answer(&info, second);
                        if matches!(op, Op::Cancel(_)) { a.code = &info.cancel_code; }
                        let r = w.svc.answer(&a, now);
                        let live = !done.contains(&info.request_ref) && now < info.expires_at;
                        if live {
                            prop_assert!(r.is_ok());
                            done.insert(info.request_ref);
                            streak = 0;
                        } else if now >= info.expires_at {
                            done.insert(info.request_ref);
                        }
                    }
                    Op::Wrong(i) => {
                        let Some(info) = pick(i, &infos) else { continue };
                        let r = w.svc.answer(&answer(&info, "1111"), now);
                        prop_assert_eq!(r, Err(OobError::AnswerRejected));
                        if !done.contains(&info.request_ref) {
                            if now >= info.expires_at {
                                done.insert(info.request_ref);
                            } else {
                                let f = failures.entry(info.request_ref).or_default();
                                *f += 1;
                                streak += 1;
                                if *f >= 5 || streak >= 5 {
                                    disabled = true;
                                    for i in &infos { done.insert(i.request_ref); }
                                }
                            }
                        }
                    }
                    Op::Tick(d) => now += d,
                    Op::Sweep => {
                        w.svc.sweep(now);
                        for i in &infos {
                            if now >= i.expires_at { done.insert(i.request_ref); }
                        }
                    }
                }
                prop_assert_eq!(w.svc.is_disabled(w.id), Some(disabled));
                let pending = infos.iter().filter(|i| !done.contains(&i.request_ref)).count();
                prop_assert_eq!(w.svc.pending_count(w.id), Some(pending));
                prop_assert_eq!(w.host.finished(), infos.len() - pending);
            }
            // Past every lifetime, everything is finished, each exactly once.
            w.svc.sweep(now + ttl);
            prop_assert_eq!(w.svc.pending_count(w.id), Some(0));
            let mut seen = HashSet::new();
            for r in w.host.forwards.lock().iter() {
                prop_assert!(seen.insert(r.request_ref));
            }
            for (r, _) in w.host.releases.lock().iter() {
                prop_assert!(seen.insert(r.request_ref));
            }
            prop_assert_eq!(seen.len(), infos.len());
            prop_assert_eq!(w.host.holds.lock().len(), infos.len());
            let st = w.svc.stats();
            prop_assert_eq!(st.confirmed as usize, w.host.forwards.lock().len());
            let rel = w.host.releases.lock();
            let count = |why| rel.iter().filter(|(_, w)| *w == why).count() as u64;
            prop_assert_eq!(st.expired, count(ReleaseReason::Expired));
            prop_assert_eq!(st.cancelled, count(ReleaseReason::Cancelled));
            prop_assert_eq!(st.duress - w.host.alarms.lock().iter().filter(|a| a.with_cancel).count() as u64,
                count(ReleaseReason::Duress));
            prop_assert_eq!(w.svc.verify_audit(), Ok(()));
        }
    }
}
