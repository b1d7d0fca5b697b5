//! The token-endpoint request parser over arbitrary method, scheme, `X-Forwarded-Proto`, query,
//! content type, authorization header and body, followed by the client decision the proxy makes.
//! Never panics; every refusal is a 4xx RFC 6749 error with a JSON body whose description stays
//! in RFC 6749's alphabet; a 401 always carries the Basic challenge.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tollgate_core::oauth::{SnapshotIndex, authorize_client, parse_token_request, secret_check};
use tollgate_core::snapshot::{OAuth2Config, PluginConfig};
use tollgate_fuzz_seeds::{GLOBAL_PLUGIN, RequestParts, plugin, snapshot};

static WORLD: LazyLock<(Option<OAuth2Config>, SnapshotIndex)> = LazyLock::new(|| {
    let snapshot = snapshot();
    let config = match plugin(&snapshot, GLOBAL_PLUGIN).map(|p| &p.config) {
        Some(PluginConfig::OAuth2(c)) => Some(c.clone()),
        _ => None,
    };
    (config, SnapshotIndex::new(&snapshot))
});

fuzz_target!(|data: &[u8]| {
    let (Some(config), index) = &*WORLD else {
        return;
    };
    let parts = RequestParts::decode(data);
    let result = parse_token_request(config, &parts.view()).and_then(|request| {
        let entry = index.credential_by_client_id(&request.client_id);
        let secret_ok = entry
            .and_then(|e| secret_check(&request, e))
            .is_some_and(|(verifier, presented)| verifier.verify(presented));
        authorize_client(&request, entry.map(|e| &e.credential), secret_ok)
    });
    if let Err(e) = result {
        assert!((400..500).contains(&e.status), "{e:?}");
        assert!(e.token_endpoint);
        if e.status == 401 {
            assert_eq!(
                e.www_authenticate.as_deref(),
                Some("Basic realm=\"OAuth2.0\"")
            );
        }
        let body: serde_json::Value = serde_json::from_slice(&e.body()).expect("JSON error body");
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(
            description
                .bytes()
                .all(|b| b == b' ' || b == b'!' || ((0x23..=0x7e).contains(&b) && b != b'\\')),
            "error_description outside RFC 6749's alphabet: {description:?}"
        );
        let _ = e.headers();
    }
});
