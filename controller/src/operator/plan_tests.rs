use serde_json::{Value, json};

use super::*;

fn arc<T: serde::de::DeserializeOwned>(v: Value) -> Arc<T> {
    Arc::new(serde_json::from_value(v).expect("fixture"))
}

fn secret(ns: &str, name: &str, label: &str, data: Value) -> Arc<Secret> {
    arc(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": ns, "labels": {"tollgate.dev/secret": label}},
        "stringData": data,
    }))
}

fn meta(kind: &str, name: &str, generation: i64, spec: Value) -> Value {
    json!({
        "apiVersion": "tollgate.dev/v1alpha1", "kind": kind,
        "metadata": {"name": name, "namespace": "shop", "uid": tollgate_core::ids::consumer_id("shop", name), "generation": generation,
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": spec,
    })
}

fn inputs(with_client_secret: bool) -> Inputs {
    let mut secrets = vec![
        secret(
            "tollgate",
            "config-token",
            "config-token",
            json!({"token": " t0ken \n"}),
        ),
        secret(
            "tollgate",
            "signing-keys",
            "signing-keys",
            json!({"k2026-01-01": "0123456789abcdef0123456789abcdef"}),
        ),
    ];
    if with_client_secret {
        secrets.push(secret(
            "shop",
            "demo-secret",
            "credential",
            json!({"client_secret": "secret"}),
        ));
    }
    Inputs {
        objects: Objects {
            consumers: vec![arc(meta("Consumer", "jane", 1, json!({})))],
            credentials: vec![arc(meta(
                "OAuth2Credential",
                "demo",
                2,
                json!({"consumerRef": {"name": "jane"}, "clientId": "client", "hashSecret": false,
                       "clientSecretRef": {"name": "demo-secret", "key": "client_secret"}}),
            ))],
            plugins: vec![arc(meta(
                "AuthPlugin",
                "oauth2",
                1,
                json!({"type": "oauth2", "oauth2": {"enableClientCredentials": true, "globalCredentials": true}}),
            ))],
            routes: vec![arc(meta(
                "GatewayRoute",
                "auth",
                3,
                json!({"paths": ["/auth"], "plugins": ["oauth2"]}),
            ))],
            secrets,
            secret_access: Default::default(),
            certificate_reads: Default::default(),
            namespaces: vec![],
            issuers: Default::default(),
            proxy_replicas: 1,
            gateway: Default::default(),
            ingress: Default::default(),
        },
        services: vec![],
        slices: vec![],
        proxy_slices: vec![arc(json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": "proxy-a", "namespace": "tollgate",
                         "labels": {"kubernetes.io/service-name": "proxy-config"}},
            "ports": [{"name": "admin", "port": 8100}],
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": false}}],
        }))],
    }
}

fn at(s: &str) -> NamespacedName {
    s.parse().expect("namespace/name")
}

#[test]
fn a_complete_set_of_objects_becomes_a_pushable_plan() {
    let plan = build(
        &inputs(true),
        &at("tollgate/config-token"),
        &at("tollgate/signing-keys"),
        &AddressPolicy::cluster(),
        &mut SecretHasher::new(),
    )
    .expect("plan");
    assert!(
        plan.translation.problems.is_empty(),
        "{:?}",
        plan.translation.problems
    );
    assert_eq!(plan.desired.hash, plan.translation.snapshot.content_hash());
    assert_eq!(
        plan.desired.body.as_ref(),
        plan.translation.snapshot.to_json().as_slice()
    );
    assert_eq!(plan.contents.len(), 4);
    assert_eq!(
        plan.contents
            .get(&ObjectKey::new(Kind::GatewayRoute, "shop", "auth")),
        Some(&3)
    );
    assert!(plan.config_token.is_some());
    assert_eq!(plan.targets.iter().collect::<Vec<_>>(), ["127.0.0.1:8100"]);
    let json = String::from_utf8_lossy(&plan.desired.body).to_string();
    assert!(
        !json.contains("\"secret\""),
        "no plaintext client secret in the snapshot"
    );
}

#[test]
fn a_credential_without_its_secret_is_left_out_with_secret_not_found() {
    let plan = build(
        &inputs(false),
        &at("tollgate/config-token"),
        &at("tollgate/signing-keys"),
        &AddressPolicy::cluster(),
        &mut SecretHasher::new(),
    )
    .expect("plan");
    let problem = plan
        .translation
        .problems
        .iter()
        .find(|p| p.kind == Kind::OAuth2Credential)
        .expect("a problem for the credential");
    assert_eq!(problem.reason, "SecretNotFound");
    assert!(
        !plan
            .contents
            .contains_key(&ObjectKey::new(Kind::OAuth2Credential, "shop", "demo"))
    );
    assert!(
        plan.contents
            .contains_key(&ObjectKey::new(Kind::Consumer, "shop", "jane")),
        "the rest is served"
    );
}

#[test]
fn without_signing_keys_there_is_no_plan_at_all() {
    let err = build(
        &inputs(true),
        &at("tollgate/config-token"),
        &at("tollgate/missing"),
        &AddressPolicy::cluster(),
        &mut SecretHasher::new(),
    )
    .err()
    .expect("an error, never an empty or keyless snapshot");
    assert!(matches!(
        err,
        Error::SigningKeys(SigningKeysError::NotFound { .. })
    ));
}

#[test]
fn the_config_token_is_read_trimmed_and_only_from_the_named_secret() {
    let secrets = inputs(true).objects.secrets;
    assert!(config_token(&secrets, &at("tollgate/config-token")).is_some());
    assert!(config_token(&secrets, &at("other/config-token")).is_none());
    assert!(
        config_token(&secrets, &at("tollgate/signing-keys")).is_none(),
        "no `token` key"
    );
}

#[test]
fn namespaced_names_parse_strictly() {
    for bad in ["", "x", "/x", "x/", "a/b/c"] {
        assert!(bad.parse::<NamespacedName>().is_err(), "{bad:?}");
    }
    assert_eq!(at("a/b").to_string(), "a/b");
}
