//! The quickstart manifests (`examples/quickstart/`) translate without a single problem into the
//! configuration the token flow needs (tokens issued on `/auth`, verified on `/`).

use std::path::Path;

use tollgate_controller::standalone::dir::ManifestDir;
use tollgate_controller::translate::{SecretHasher, ServiceEndpoints, SigningKeys, translate};
use tollgate_core::address::AddressPolicy;
use tollgate_core::snapshot::PluginConfig;

#[test]
fn the_quickstart_manifests_serve_the_whole_flow() {
    let dir_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart");
    let mut dir = ManifestDir::new(&dir_path);
    let report = dir.scan().expect("scan");
    assert!(report.new_errors.is_empty(), "{:?}", report.new_errors);
    let keys = SigningKeys::single("k1", &[1u8; 32]).expect("key");
    // Standalone mode's address policy: the quickstart's upstream is on loopback.
    let t = translate(
        &dir.objects(),
        &ServiceEndpoints::new(),
        &AddressPolicy::standalone(),
        &keys,
        &mut SecretHasher::new(),
    );
    assert_eq!(t.problems, vec![]);
    let s = &t.snapshot;
    assert_eq!(s.consumers.len(), 1);
    assert_eq!(s.consumers[0].username, "jane");
    assert_eq!(s.credentials.len(), 1);
    assert_eq!(s.credentials[0].client_id, "client");
    let verifier = s.credentials[0]
        .secret_verifier
        .as_deref()
        .expect("verifier");
    assert!(verifier.starts_with("$argon2id$"), "hashSecret: true");
    let routes: Vec<(&str, &[String])> = s
        .routes
        .iter()
        .map(|r| (r.id.as_str(), r.paths.as_slice()))
        .collect();
    assert_eq!(
        routes,
        [
            ("default/auth", &["/auth".to_owned()][..]),
            ("default/httpbin", &["/".to_owned()][..]),
        ]
    );
    let oauth2 = s
        .plugins
        .iter()
        .find(|p| p.id == "default/oauth2")
        .expect("oauth2");
    let PluginConfig::OAuth2(cfg) = &oauth2.config else {
        panic!("oauth2 plugin has the wrong type");
    };
    assert!(cfg.global_credentials && cfg.enable_client_credentials);
    assert_eq!(cfg.token_expiration, 7200);
    let backend = s.routes[1].backend.as_ref().expect("httpbin backend");
    assert_eq!(backend.endpoints, ["127.0.0.1:8080"]);
    if let Err(errors) = tollgate_core::validate::validate(s) {
        panic!("the snapshot is invalid: {errors:?}");
    }
}

/// The README's rate-limit example (`examples/rate-limit/`), applied beside the quickstart,
/// translates without a problem into a route with the quickstart's authentication plugin and
/// the limit.
#[test]
fn the_rate_limit_example_applies_beside_the_quickstart() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let dir_path = std::env::temp_dir().join(format!(
        "tollgate-rate-limit-example-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir_path).expect("temp dir");
    for source in ["quickstart", "rate-limit"] {
        for entry in std::fs::read_dir(examples.join(source)).expect("examples") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let name = path.file_name().expect("file name");
                std::fs::copy(&path, dir_path.join(name)).expect("copy");
            }
        }
    }
    let mut dir = ManifestDir::new(&dir_path);
    let report = dir.scan().expect("scan");
    let keys = SigningKeys::single("k1", &[1u8; 32]).expect("key");
    let t = translate(
        &dir.objects(),
        &ServiceEndpoints::new(),
        &AddressPolicy::standalone(),
        &keys,
        &mut SecretHasher::new(),
    );
    std::fs::remove_dir_all(&dir_path).expect("remove temp dir");
    assert!(report.new_errors.is_empty(), "{:?}", report.new_errors);
    assert_eq!(t.problems, vec![]);
    let limited = t
        .snapshot
        .routes
        .iter()
        .find(|r| r.id == "default/limited")
        .expect("the limited route");
    assert_eq!(limited.plugins, ["default/oidc", "default/per-consumer"]);
    let limit = t
        .snapshot
        .plugins
        .iter()
        .find(|p| p.id == "default/per-consumer")
        .expect("the limit");
    let PluginConfig::RateLimiting(cfg) = &limit.config else {
        panic!("the limit has the wrong type");
    };
    assert_eq!(
        (cfg.second, cfg.minute, cfg.hour),
        (Some(5), Some(100), None)
    );
    assert_eq!(cfg.divide_by, None);
}
