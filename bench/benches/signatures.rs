//! Sign, verify, batch verify (64, 256, 1024), digest of a certificate.
//!
//! `cargo bench -p kabuken-bench --bench signatures`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kabuken::certs::{CertIdKey, Certificate, ShareClass, TransferRestriction, SIG_ALG_ED25519};
use kabuken::crypto::{
    merkle, verify_batch, BatchItem, KeyPair, MsgKind, PublicKey, Signature, Signed,
};

fn cert() -> Certificate {
    Certificate {
        company_name: "Kabu KK".into(),
        company_founded: 19_491_201,
        certificate_number: 77,
        id: CertIdKey::from_bytes([9; 32]).mint(1, 42),
        instrument: 1,
        shares: 1000,
        par_value: 50,
        issue_date: 5,
        expiry: 1_000,
        holder_name: "Alice".into(),
        holder: 100,
        class: ShareClass::Common,
        restriction: TransferRestriction::Free,
        signature_algorithm: SIG_ALG_ED25519,
        register_name: "Kabu Register".into(),
        register_address: "https://register.invalid".into(),
    }
}

fn bench(c: &mut Criterion) {
    let key = KeyPair::from_seed(&[1; 32]);
    let pk = key.public();
    let msg = [0x5au8; 128];
    let sig = key.sign(MsgKind::IssueRequest, &msg);
    let mut g = c.benchmark_group("signatures");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign_128B", |b| {
        b.iter(|| key.sign(MsgKind::IssueRequest, black_box(&msg)))
    });
    g.bench_function("verify_128B", |b| {
        b.iter(|| {
            pk.verify(MsgKind::IssueRequest, black_box(&msg), black_box(&sig))
                .expect("ok")
        })
    });
    let signed = Signed::sign(cert(), 2, &key);
    g.bench_function("certificate_digest", |b| {
        b.iter(|| black_box(&signed).digest())
    });
    g.bench_function("certificate_sign", |b| {
        b.iter(|| Signed::sign(black_box(cert()), 2, &key))
    });
    g.bench_function("certificate_verify", |b| {
        b.iter(|| black_box(&signed).verify(&pk).expect("ok"))
    });
    g.bench_function("parse_public_key", |b| {
        let bytes = pk.to_bytes();
        b.iter(|| PublicKey::from_bytes(black_box(&bytes)).expect("ok"))
    });
    g.finish();

    let mut g = c.benchmark_group("signatures/batch_verify");
    for n in [64usize, 256, 1024] {
        let keys: Vec<KeyPair> = (0..n)
            .map(|i| KeyPair::from_seed(&[(i % 251) as u8 + 1; 32]))
            .collect();
        let pubs: Vec<PublicKey> = keys.iter().map(KeyPair::public).collect();
        let msgs: Vec<Vec<u8>> = (0..n).map(|i| [i as u8; 128].to_vec()).collect();
        let sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign_raw(m)).collect();
        let items: Vec<BatchItem<'_>> = (0..n)
            .map(|i| (&pubs[i], msgs[i].as_slice(), &sigs[i]))
            .collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &items, |b, items| {
            b.iter(|| verify_batch(black_box(items)).expect("ok"))
        });
    }
    g.finish();

    // Outbound batch signing: one signature over a Merkle root per batch
    // (per-message cost = throughput), and checking one member.
    let mut g = c.benchmark_group("signatures/merkle_batch");
    let key = KeyPair::from_seed(&[9; 32]);
    let pk = key.public();
    for n in [64usize, 256, 1024] {
        let msgs: Vec<Vec<u8>> = (0..n).map(|i| [i as u8; 128].to_vec()).collect();
        let items: Vec<(MsgKind, &[u8])> = msgs
            .iter()
            .map(|m| (MsgKind::CompletionNotice, m.as_slice()))
            .collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("sign", n), &items, |b, items| {
            b.iter(|| merkle::sign_batch(&key, black_box(items)).expect("ok"))
        });
        let proofs = merkle::sign_batch(&key, &items).expect("ok");
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(
            BenchmarkId::new("verify_member", n),
            &proofs[n / 2],
            |b, p| {
                b.iter(|| {
                    p.verify(&pk, MsgKind::CompletionNotice, black_box(&msgs[n / 2]))
                        .expect("ok")
                })
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
