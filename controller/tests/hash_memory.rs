//! Memory for hashing client secrets is bounded and given back: hashing many secrets must not
//! leave one argon2id work buffer (19 MiB) behind per secret, as it once did.
//!
//! Measured as resident bytes retained by this process after hashing N secrets, not as a timing.
//! One test per binary, so no other test allocates meanwhile.

#![cfg(target_os = "linux")]

use std::sync::Arc;
use std::time::Duration;

use tollgate_controller::translate::{HashPool, SecretHasher, Verdict};
use tollgate_core::secret::ARGON2_M_KIB;

const MIB: f64 = 1024.0 * 1024.0;

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("resident pages");
    pages * 4096
}

#[test]
fn hashing_many_secrets_retains_no_work_buffer_per_secret() {
    const SECRETS: usize = 32;
    const THREADS: usize = 2;
    let buffer = usize::try_from(ARGON2_M_KIB).expect("fits") * 1024;
    let pool = Arc::new(HashPool::new(THREADS, || {}).expect("pool"));
    let mut hasher = SecretHasher::with_pool(Arc::clone(&pool));

    // Warm up once (thread stacks, lazy statics) before the baseline.
    assert_eq!(
        hasher.verifier("warm-up", true, b"s", None),
        Verdict::Pending
    );
    assert!(pool.wait_idle(Duration::from_secs(120)));
    hasher.collect();
    let baseline = resident_bytes();

    for i in 0..SECRETS {
        let secret = format!("secret-{i}");
        let verdict = hasher.verifier(&format!("cred-{i}"), true, secret.as_bytes(), None);
        assert_eq!(verdict, Verdict::Pending);
    }
    let mut peak = 0;
    while !pool.wait_idle(Duration::from_millis(50)) {
        peak = peak.max(resident_bytes());
    }
    hasher.collect();
    let after = resident_bytes();
    for i in 0..SECRETS {
        let secret = format!("secret-{i}");
        let verdict = hasher.verifier(&format!("cred-{i}"), true, secret.as_bytes(), None);
        assert!(matches!(verdict, Verdict::Ready(v) if v.starts_with("$argon2id$")));
    }
    let retained = after.saturating_sub(baseline);
    let grown = peak.saturating_sub(baseline);
    println!(
        "hashed {SECRETS} secrets on {THREADS} threads: peak +{:.1} MiB, retained +{:.1} MiB \
         ({:.2} MiB per secret; one work buffer is {:.1} MiB)",
        grown as f64 / MIB,
        retained as f64 / MIB,
        retained as f64 / MIB / SECRETS as f64,
        buffer as f64 / MIB,
    );
    assert_eq!(pool.held_bytes(), 0, "idle threads hold no work buffer");
    assert!(
        grown <= (THREADS + 1) * buffer,
        "while hashing, memory grew by {:.1} MiB: more than one buffer per thread",
        grown as f64 / MIB
    );
    assert!(
        retained < buffer,
        "{:.1} MiB stayed resident after hashing {SECRETS} secrets (one buffer is {:.1} MiB)",
        retained as f64 / MIB,
        buffer as f64 / MIB
    );
}
