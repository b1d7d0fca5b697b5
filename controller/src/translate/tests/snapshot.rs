//! The happy path: what a valid set of objects becomes.

use std::collections::BTreeMap;
use std::sync::Arc;

use tollgate_core::snapshot::{BearerTokenParamType, PluginConfig};

use super::*;
use crate::resources::auth_plugin::BearerTokenParamType as SpecParamType;
use crate::resources::gateway_route::{Backend, ServiceBackend};

// ---- the happy path ----

#[test]
fn the_quickstart_translates_without_problems_into_a_valid_snapshot() {
    let t = run(&quickstart());
    assert_eq!(t.problems, vec![]);
    assert_eq!(served(&t), all_quickstart_objects());
    let cred = &t.snapshot.credentials[0];
    assert_eq!(cred.client_id, "client");
    assert_eq!(cred.name, "demo", "name defaults to metadata.name");
    assert_eq!(cred.consumer_id, t.snapshot.consumers[0].id);
    assert_eq!(
        t.snapshot.consumers[0].id,
        tollgate_core::ids::consumer_id("default", "jane")
    );
    assert_eq!(t.snapshot.consumers[0].username, "jane");
    let verifier = cred.secret_verifier.as_deref().expect("verifier");
    assert!(verifier.starts_with("$sha256$"), "{verifier}");
    assert!(!String::from_utf8_lossy(&t.snapshot.to_json()).contains(PLAINTEXT));
    let httpbin = &t.snapshot.routes[1];
    assert_eq!(httpbin.plugins, ["default/oidc"]);
    let backend = httpbin.backend.as_ref().expect("backend");
    assert_eq!(backend.endpoints, ["127.0.0.1:8080"]);
    assert_eq!(backend.scheme, "http");
    assert_eq!(t.snapshot.active_key, "k1");
}

#[test]
fn translation_is_deterministic_so_equal_objects_give_equal_hashes() {
    let mut objects = quickstart();
    let first = run(&objects).snapshot.content_hash();
    objects.routes.reverse();
    objects.plugins.reverse();
    assert_eq!(run(&objects).snapshot.content_hash(), first);
}

#[test]
fn metadata_uids_are_used_as_ids_when_present() {
    let mut objects = quickstart();
    let mut jane = consumer("jane");
    jane.metadata.uid = Some("6f1c1c3e-2b5d-4a47-9a43-0d5b3f2f6d10".into());
    objects.consumers = vec![Arc::new(jane)];
    let t = run(&objects);
    assert_eq!(
        t.snapshot.consumers[0].id,
        "6f1c1c3e-2b5d-4a47-9a43-0d5b3f2f6d10"
    );
    assert_eq!(
        t.snapshot.credentials[0].consumer_id,
        "6f1c1c3e-2b5d-4a47-9a43-0d5b3f2f6d10"
    );
}

#[test]
fn hashed_secrets_get_an_argon2id_verifier_and_plaintext_never_appears() {
    let mut objects = quickstart();
    let mut cred = credential("demo", "jane", "client", "demo-client-secret");
    cred.spec.hash_secret = true;
    objects.credentials = vec![Arc::new(cred)];
    objects.secrets = vec![Arc::new(secret(
        "demo-client-secret",
        "client_secret",
        "correct-horse",
    ))];
    let t = run(&objects);
    let verifier = t.snapshot.credentials[0]
        .secret_verifier
        .as_deref()
        .expect("verifier");
    assert!(verifier.starts_with("$argon2id$"));
    let json = String::from_utf8(t.snapshot.to_json()).expect("utf8");
    assert!(!json.contains("correct-horse"));
    assert!(!format!("{t:?}").contains("correct-horse"));
    assert!(!format!("{objects:?}").contains("correct-horse"));
}

#[test]
fn string_data_is_read_and_wins_over_data() {
    let mut objects = quickstart();
    let mut s = secret("demo-client-secret", "client_secret", "old");
    s.string_data = Some(BTreeMap::from([("client_secret".into(), "new".into())]));
    objects.secrets = vec![Arc::new(s)];
    let with_string_data = run(&objects);
    objects.secrets = vec![Arc::new(secret(
        "demo-client-secret",
        "client_secret",
        "new",
    ))];
    assert_eq!(
        with_string_data.snapshot.credentials[0].secret_verifier,
        run(&objects).snapshot.credentials[0].secret_verifier
    );
}

#[test]
fn a_gateway_route_sends_the_backends_host_unless_its_backend_preserves_the_clients() {
    let mut objects = quickstart();
    let t = run(&objects);
    let httpbin = |t: &Translation| {
        t.snapshot
            .routes
            .iter()
            .find(|r| r.id == "default/httpbin")
            .map(|r| r.preserve_host)
    };
    assert_eq!(httpbin(&t), Some(false), "Kong's default");
    edit_route(&mut objects, "httpbin", |r| {
        if let Some(b) = r.spec.backend.as_mut() {
            b.preserve_host = true;
        }
    });
    let t = run(&objects);
    assert_eq!(t.problems, vec![]);
    assert_eq!(httpbin(&t), Some(true));
}

#[test]
fn a_service_backend_resolves_to_its_ready_endpoints() {
    let mut objects = quickstart();
    objects.routes = vec![Arc::new(route(
        "svc",
        "/svc",
        "oidc",
        Some(Backend {
            service: Some(ServiceBackend {
                name: "httpbin".into(),
                port: 80,
            }),
            url: None,
            connect_timeout_ms: 1000,
            read_timeout_ms: 2000,
            preserve_host: false,
        }),
    ))];
    let services = ServiceEndpoints::from([(
        ServiceKey {
            namespace: "default".into(),
            name: "httpbin".into(),
            port: 80,
        },
        vec!["10.0.0.1:8080".into(), "10.0.0.2:8080".into()],
    )]);
    let t = run_with(&objects, &services);
    assert_eq!(t.problems, vec![]);
    let backend = t.snapshot.routes[0].backend.as_ref().expect("backend");
    assert_eq!(backend.endpoints, ["10.0.0.1:8080", "10.0.0.2:8080"]);
    assert_eq!(
        (backend.connect_timeout_ms, backend.read_timeout_ms),
        (1000, 2000)
    );
}

#[test]
fn plugin_settings_are_carried_into_the_snapshot() {
    let mut objects = quickstart();
    let mut oidc = oidc_plugin("oidc");
    if let Some(s) = oidc.spec.openid_connect.as_mut() {
        s.bearer_token_param_type = vec![SpecParamType::Query, SpecParamType::Header];
        s.anonymous = Some("jane".into());
        s.realm = Some("api".into());
    }
    objects.plugins = vec![Arc::new(oauth2_plugin("oauth2")), Arc::new(oidc)];
    let t = run(&objects);
    assert_eq!(t.problems, vec![]);
    let PluginConfig::OpenIdConnect(cfg) = &t.snapshot.plugins[1].config else {
        panic!("expected openid-connect, got {:?}", t.snapshot.plugins[1]);
    };
    assert_eq!(
        cfg.bearer_token_param_type,
        [BearerTokenParamType::Header, BearerTokenParamType::Query]
    );
    assert_eq!(
        cfg.anonymous.as_deref(),
        Some(t.snapshot.consumers[0].id.as_str())
    );
    assert_eq!(cfg.realm.as_deref(), Some("api"));
}

#[test]
fn route_hosts_are_lower_cased_and_checked_with_the_proxys_rule() {
    let mut objects = quickstart();
    edit_route(&mut objects, "auth", |r| {
        r.spec.hosts = vec!["API.Example.COM".into(), "*.Example.com".into()];
    });
    let t = run(&objects);
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    let route = t
        .snapshot
        .routes
        .iter()
        .find(|r| r.id == "default/auth")
        .expect("served");
    assert_eq!(route.hosts, ["api.example.com", "*.example.com"]);
    assert_eq!(tollgate_core::validate::validate(&t.snapshot), Ok(()));

    // A wildcard whose name alone fits in 253 characters but which, with its `*.`, does not:
    // the proxy would refuse the snapshot, so the route is left out instead.
    let long = ["a".repeat(63).as_str(); 4].join(".")[..252].to_owned();
    edit_route(&mut objects, "auth", |r| {
        r.spec.hosts = vec![format!("*.{long}")]
    });
    let t = run(&objects);
    assert!(!t.includes(Kind::GatewayRoute, "default", "auth"));
    assert_eq!(t.problems[0].reason, reason::INVALID_HOST);
    assert_eq!(tollgate_core::validate::validate(&t.snapshot), Ok(()));
}

/// The snapshot's lists are sorted by id as a stable sort would, duplicates in their order.
#[test]
fn sort_by_id_is_the_stable_sort_by_id() {
    // A fixed pseudo-random sequence of ids with repeats, tagged with their first position.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for len in [0usize, 1, 2, 3, 17, 1000] {
        let items: Vec<(String, usize)> = (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (format!("id-{}", state % (len as u64 / 2 + 1)), i)
            })
            .collect();
        let mut expected = items.clone();
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        let mut sorted = items;
        super::super::sort_by_id(&mut sorted, |item| &item.0);
        assert_eq!(sorted, expected, "{len} items");
    }
}
