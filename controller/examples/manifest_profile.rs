//! Where the apply of a manifest directory goes, in process: reading, translation, the proxy's
//! compilation, with the peak RSS after each step.
//!
//! `cargo run --release -p tollgate-controller --example manifest_profile -- DIR [FILE]`: reads
//! DIR, then (with FILE) copies FILE into DIR as `zz-profile.yaml` and measures its apply.

use std::time::Instant;

use tollgate_controller::standalone::dir::ManifestDir;
use tollgate_controller::standalone::incarnations::Incarnations;
use tollgate_controller::standalone::reconcile::DirReconciler;
use tollgate_controller::translate::{SecretHasher, SigningKeys};
use tollgate_proxy::ProxyState;

/// The controller binary's allocator, so that the memory figures are the binary's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .map(|l| l[field.len()..].trim().to_owned())
        .unwrap_or_default()
}

fn step(name: &str, started: Instant) {
    println!(
        "{name:<12} {:>8.3} s   RSS {:>12}   peak {:>12}",
        started.elapsed().as_secs_f64(),
        status("VmRSS:"),
        status("VmHWM:")
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir_path = std::path::PathBuf::from(&args[0]);
    let keys = SigningKeys::single("k", &[7u8; 32]).expect("key");
    let incarnations = Incarnations::new().expect("incarnations");
    let mut reconciler = DirReconciler::with_hasher(keys, SecretHasher::new(), incarnations);
    let proxy = ProxyState::new();
    let mut dir = ManifestDir::new(&dir_path);
    dir.scan().expect("scan");
    let outcome = reconciler.reconcile(&dir);
    proxy
        .apply(outcome.snapshot.expect("snapshot"))
        .expect("apply");
    step("base", Instant::now());
    let Some(file) = args.get(1) else { return };
    std::fs::copy(file, dir_path.join("zz-profile.yaml")).expect("copy");
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let all = Instant::now();
    let t = Instant::now();
    let report = dir.scan().expect("scan");
    assert!(report.changed && report.new_errors.is_empty(), "{report:?}");
    step("scan", t);
    let t = Instant::now();
    let outcome = reconciler.reconcile(&dir);
    step("translate", t);
    assert!(outcome.checked, "the translation checked its snapshot");
    let snapshot = outcome.snapshot.expect("snapshot");
    println!(
        "snapshot: {} consumers, {} credentials, {} routes, {} new problems",
        snapshot.consumers.len(),
        snapshot.credentials.len(),
        snapshot.routes.len(),
        outcome.new_problems.len()
    );
    let t = Instant::now();
    proxy.apply_checked(snapshot).expect("apply");
    step("apply", t);
    step("total", all);
    std::fs::remove_file(dir_path.join("zz-profile.yaml")).expect("remove");
}
