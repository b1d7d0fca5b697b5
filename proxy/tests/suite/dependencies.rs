//! The data plane never links Kubernetes crates.

use std::process::Command;

#[test]
fn the_proxy_does_not_depend_on_kube_or_k8s_openapi() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "tollgate-proxy",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    assert!(tree.contains("tollgate-core"), "unexpected tree:\n{tree}");
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        assert!(
            !matches!(name, "kube" | "k8s-openapi") && !name.starts_with("kube-"),
            "the proxy links {name}"
        );
    }
}
