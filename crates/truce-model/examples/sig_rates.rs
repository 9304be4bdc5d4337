//! Signature verification rates on this machine, one core: `verify_strict` against
//! `ed25519_dalek::verify_batch` and truce's own [`truce_model::keys::verify_batch`] (which adds the
//! checks that keep it as strict as `verify_strict`). The yardstick for `truce replay`
//! (bench/RESULTS.md, "Replay and restart").
//!
//!     cargo run --release -p truce-model --example sig_rates [N]

use std::time::Instant;

use truce_model::keys::{self, PrivateKey};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let signers: Vec<PrivateKey> = (0..8)
        .map(|i| PrivateKey::generate(&format!("monitor-{i}")).expect("randomness"))
        .collect();
    let vkeys: Vec<_> = signers.iter().map(PrivateKey::verifier).collect();
    let msgs: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("observation {i} {}", "x".repeat(700)).into_bytes())
        .collect();
    let sigs: Vec<[u8; 64]> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| signers[i % 8].sign(m))
        .collect();

    let t = Instant::now();
    for (i, (m, s)) in msgs.iter().zip(&sigs).enumerate() {
        assert!(vkeys[i % 8].verify(m, s).is_ok());
    }
    let strict = n as f64 / t.elapsed().as_secs_f64();
    println!("verify_strict:                 {strict:>9.0} signatures/s");

    for size in [64, 256, 1024, 4096] {
        let t = Instant::now();
        for chunk in (0..n).collect::<Vec<_>>().chunks(size) {
            let m: Vec<&[u8]> = chunk.iter().map(|&i| msgs[i].as_slice()).collect();
            let s: Vec<ed25519_dalek::Signature> = chunk
                .iter()
                .map(|&i| ed25519_dalek::Signature::from_bytes(&sigs[i]))
                .collect();
            let k: Vec<ed25519_dalek::VerifyingKey> = chunk
                .iter()
                .map(|&i| *vkeys[i % 8].verifying_key())
                .collect();
            assert!(ed25519_dalek::verify_batch(&m, &s, &k).is_ok());
        }
        let rate = n as f64 / t.elapsed().as_secs_f64();
        println!(
            "ed25519_dalek::verify_batch/{size:<4}: {rate:>9.0} signatures/s ({:.2}x verify_strict)",
            rate / strict
        );
        let t = Instant::now();
        for chunk in (0..n).collect::<Vec<_>>().chunks(size) {
            let items: Vec<(&[u8], &[u8], &keys::VerifierKey)> = chunk
                .iter()
                .map(|&i| (msgs[i].as_slice(), sigs[i].as_slice(), &vkeys[i % 8]))
                .collect();
            assert!(keys::verify_batch(&items).into_iter().all(|ok| ok));
        }
        let rate = n as f64 / t.elapsed().as_secs_f64();
        println!(
            "keys::verify_batch/{size:<4}:          {rate:>9.0} signatures/s ({:.2}x verify_strict)",
            rate / strict
        );
    }
    let rs: Vec<_> = sigs
        .iter()
        .map(|s| {
            curve25519_dalek::edwards::CompressedEdwardsY(s[..32].try_into().expect("32 bytes"))
        })
        .collect();
    let t = Instant::now();
    for r in &rs {
        let p = r.decompress().expect("a point");
        assert!(p.compress() == *r && !p.is_small_order());
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    println!("R decompress + canonical + small order: {rate:>9.0}/s");
    let t = Instant::now();
    for r in &rs {
        assert!(r.decompress().expect("a point").is_torsion_free());
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    println!("R decompress + is_torsion_free:         {rate:>9.0}/s");
}
