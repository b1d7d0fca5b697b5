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
