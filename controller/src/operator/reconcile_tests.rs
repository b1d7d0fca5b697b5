//! Whole reconcile passes against a mocked API server: objects in the stores → translation →
//! server-side-apply bodies on `/status` and Events, and nothing written when nothing changed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;

use super::*;
use crate::operator::mock_api::{MockApi, mock_client};
use crate::operator::push_client::PushClient;
use crate::operator::pusher::PushSettings;
use crate::operator::stores::Multi;

const NS: &str = "shop";

fn object(kind: &str, name: &str, created: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "tollgate.dev/v1alpha1", "kind": kind,
        "metadata": {"name": name, "namespace": NS, "uid": tollgate_core::ids::consumer_id(NS, name), "generation": 2,
                     "creationTimestamp": created},
        "spec": spec,
    })
}

fn credential(name: &str, created: &str, consumer: &str, client_id: &str, secret: &str) -> Value {
    object(
        "OAuth2Credential",
        name,
        created,
        json!({"consumerRef": {"name": consumer}, "clientId": client_id, "hashSecret": false,
               "clientSecretRef": {"name": secret, "key": "client_secret"}}),
    )
}

fn secret(ns: &str, name: &str, label: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": name, "namespace": ns, "labels": {"tollgate.dev/secret": label}},
           "stringData": data})
}

/// Every object of the scenario, by name: one of each problem kind plus valid ones.
fn fixtures() -> BTreeMap<&'static str, Value> {
    const T0: &str = "2026-01-01T00:00:00Z";
    const T1: &str = "2026-01-02T00:00:00Z";
    BTreeMap::from([
        ("jane", object("Consumer", "jane", T0, json!({}))),
        ("ok", credential("ok", T0, "jane", "client", "demo-secret")),
        (
            "dup",
            credential("dup", T1, "jane", "client", "demo-secret"),
        ),
        (
            "nosecret",
            credential("nosecret", T0, "jane", "other", "missing-secret"),
        ),
        (
            "noconsumer",
            credential("noconsumer", T0, "ghost", "third", "demo-secret"),
        ),
        (
            "oauth2",
            object(
                "AuthPlugin",
                "oauth2",
                T0,
                json!({"type": "oauth2", "oauth2": {"enableClientCredentials": true, "globalCredentials": true}}),
            ),
        ),
        (
            "auth",
            object(
                "GatewayRoute",
                "auth",
                T0,
                json!({"paths": ["/auth"], "plugins": ["oauth2"]}),
            ),
        ),
        (
            "ghost",
            object(
                "GatewayRoute",
                "ghost",
                T0,
                json!({"paths": ["/ghost"], "plugins": ["nope"]}),
            ),
        ),
    ])
}

fn typed<K: serde::de::DeserializeOwned>(fixtures: &BTreeMap<&str, Value>, kind: &str) -> Vec<K> {
    fixtures
        .values()
        .filter(|v| v["kind"] == kind)
        .map(|v| serde_json::from_value(v.clone()).expect("fixture"))
        .collect()
}

fn stores(fixtures: &BTreeMap<&str, Value>) -> Stores {
    let secrets = [
        secret(
            NS,
            "demo-secret",
            "credential",
            json!({"client_secret": "secret"}),
        ),
        secret(
            "tollgate",
            "config-token",
            "config-token",
            json!({"token": "t"}),
        ),
        secret(
            "tollgate",
            "signing-keys",
            "signing-keys",
            json!({"k1": "0123456789abcdef0123456789abcdef"}),
        ),
    ];
    Stores {
        consumers: Multi::fixed(typed(fixtures, "Consumer")),
        credentials: Multi::fixed(typed(fixtures, "OAuth2Credential")),
        plugins: Multi::fixed(typed(fixtures, "AuthPlugin")),
        routes: Multi::fixed(typed(fixtures, "GatewayRoute")),
        secrets: Multi::fixed(
            secrets
                .iter()
                .map(|s| serde_json::from_value(s.clone()).expect("secret"))
                .collect(),
        ),
        secret_names: Multi::fixed(vec![]),
        services: Multi::fixed(vec![]),
        slices: Multi::fixed(vec![]),
        proxy_slices: Multi::fixed(vec![]),
        namespaces: Multi::fixed(vec![]),
        ingresses: Multi::fixed(vec![]),
        ingress_classes: Multi::fixed(vec![]),
        publish_service: Multi::fixed(vec![]),
        gateway: Arc::new(std::sync::OnceLock::new()),
    }
}

fn reconciler(stores: Stores, client: kube::Client) -> Pipeline {
    let metrics = Arc::new(ControllerMetrics::new());
    let pusher = Pusher::new(
        PushClient::new(Duration::from_secs(1)),
        PushSettings::default(),
        Arc::new(Notify::new()),
        Arc::clone(&metrics),
    );
    let at = |s: &str| s.parse::<NamespacedName>().expect("ns/name");
    let settings = Settings {
        proxy_service: at("tollgate/proxy-config"),
        config_token_secret: at("tollgate/config-token"),
        signing_key_secret: at("tollgate/signing-keys"),
        debounce: Duration::from_millis(1),
        class: crate::operator::DEFAULT_CLASS.to_owned(),
        config_tls: None,
        backend_policy: AddressPolicy::cluster(),
        generate_client_secrets: true,
        publish_service: Some(at("tollgate/proxy")),
    };
    Pipeline::new(
        settings,
        stores,
        pusher,
        StatusWriter::new(client, "test".into()),
        metrics,
    )
}

/// What one pass sent: SSA bodies by object name, and Events as (object, type, reason).
#[derive(Default)]
struct Sent {
    applies: BTreeMap<String, Value>,
    events: Vec<(String, String, String)>,
}

/// Runs one leader pass, answering every request the way the API server would.
async fn leader_pass(
    reconciler: &mut Pipeline,
    api: &mut MockApi,
    fixtures: &BTreeMap<&str, Value>,
) -> Sent {
    let mut sent = Sent::default();
    let pass = reconciler.pass(true);
    tokio::pin!(pass);
    let deadline = tokio::time::sleep(Duration::from_secs(20));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            result = &mut pass => {
                result.expect("the pass succeeds");
                return sent;
            }
            () = &mut deadline => panic!("the pass did not finish"),
            seen = api.answer_with(|method, uri| reply(method, uri, fixtures)) => {
                if seen.uri.contains("/events") {
                    let regarding = seen.body["regarding"]["name"].as_str().unwrap_or_default().to_owned();
                    let type_ = seen.body["type"].as_str().unwrap_or_default().to_owned();
                    let reason = seen.body["reason"].as_str().unwrap_or_default().to_owned();
                    sent.events.push((regarding, type_, reason));
                } else {
                    assert_eq!(seen.method, "PATCH", "{}", seen.uri);
                    assert!(seen.uri.contains("/status?"), "{}", seen.uri);
                    assert!(seen.uri.contains("fieldManager=tollgate-controller"), "{}", seen.uri);
                    assert_eq!(seen.content_type.as_deref(), Some("application/apply-patch+yaml"));
                    let name = seen.uri.split("/status").next().and_then(|p| p.rsplit('/').next()).unwrap_or_default();
                    sent.applies.insert(name.to_owned(), seen.body);
                }
            }
        }
    }
}

fn reply(method: &str, uri: &str, fixtures: &BTreeMap<&str, Value>) -> Value {
    if uri.contains("/events") {
        assert_eq!(method, "POST");
        return json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
                      "metadata": {"name": "e", "namespace": NS}, "eventTime": null});
    }
    let name = uri
        .split("/status")
        .next()
        .and_then(|p| p.rsplit('/').next())
        .unwrap_or_default();
    fixtures
        .get(name)
        .cloned()
        .unwrap_or_else(|| panic!("unexpected request {method} {uri}"))
}

fn condition<'a>(body: &'a Value, type_: &str) -> &'a Value {
    body["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("no {type_} in {body}"))
}

#[tokio::test]
async fn a_pass_applies_a_status_for_every_object_with_the_reason_of_each_problem() {
    let fixtures = fixtures();
    let (client, mut api) = mock_client();
    let mut r = reconciler(stores(&fixtures), client);
    let sent = leader_pass(&mut r, &mut api, &fixtures).await;
    assert_eq!(
        sent.applies.len(),
        fixtures.len(),
        "one status per object: {:?}",
        sent.applies.keys()
    );
    let table = [
        ("dup", "Accepted", "DuplicateClientId"),
        ("nosecret", "ResolvedRefs", "SecretNotFound"),
        ("noconsumer", "ResolvedRefs", "ConsumerNotFound"),
        ("ghost", "ResolvedRefs", "PluginNotFound"),
    ];
    for (name, falsified, reason) in table {
        let body = &sent.applies[name];
        assert_eq!(body["status"]["observedGeneration"], 2, "{name}");
        assert_eq!(condition(body, falsified)["status"], "False", "{name}");
        assert_eq!(condition(body, falsified)["reason"], reason, "{name}");
        assert_eq!(condition(body, "Programmed")["status"], "False", "{name}");
        assert_eq!(condition(body, "Programmed")["reason"], reason, "{name}");
        assert!(
            sent.events
                .contains(&(name.to_owned(), "Warning".to_owned(), reason.to_owned())),
            "a Warning event for {name}: {:?}",
            sent.events
        );
    }
    for name in ["jane", "ok", "oauth2", "auth"] {
        let body = &sent.applies[name];
        assert_eq!(condition(body, "Accepted")["status"], "True", "{name}");
        assert_eq!(condition(body, "ResolvedRefs")["status"], "True", "{name}");
        let programmed = condition(body, "Programmed");
        assert_eq!(
            programmed["reason"], "Pending",
            "no proxy replica yet: {name}"
        );
        assert!(
            programmed["message"]
                .as_str()
                .unwrap_or_default()
                .contains("tollgate/proxy-config")
        );
    }
    assert_eq!(
        sent.events.len(),
        4,
        "no Event for Pending: {:?}",
        sent.events
    );
    let json = serde_json::to_string(&sent.applies).expect("json");
    assert!(
        !json.contains("\"secret\""),
        "no secret material in any status"
    );
}

#[tokio::test]
async fn a_new_leader_writes_nothing_when_the_stored_statuses_are_current() {
    let fixtures = fixtures();
    let (client, mut api) = mock_client();
    let mut first = reconciler(stores(&fixtures), client);
    let sent = leader_pass(&mut first, &mut api, &fixtures).await;
    // The stores now show what was applied (as the watch would deliver it).
    let updated: BTreeMap<&str, Value> = fixtures
        .iter()
        .map(|(name, v)| {
            let mut v = v.clone();
            v["status"] = sent.applies[*name]["status"].clone();
            (*name, v)
        })
        .collect();
    let (client, mut api) = mock_client();
    let mut second = reconciler(stores(&updated), client);
    let again = leader_pass(&mut second, &mut api, &updated).await;
    assert!(
        again.applies.is_empty(),
        "unchanged statuses rewritten: {:?}",
        again.applies.keys()
    );
    assert!(
        again.events.is_empty(),
        "no Events without transitions: {:?}",
        again.events
    );
}

#[tokio::test]
async fn a_follower_translates_but_writes_nothing() {
    let fixtures = fixtures();
    let (client, _api) = mock_client();
    let mut r = reconciler(stores(&fixtures), client);
    tokio::time::timeout(Duration::from_secs(20), r.pass(false))
        .await
        .expect("a follower pass makes no API request")
        .expect("pass");
    assert!(r.last_hash.is_some(), "the snapshot was still built");
}

#[test]
fn a_controller_serves_only_the_objects_of_its_class() {
    use crate::resources::Consumer;
    use crate::resources::consumer::ConsumerSpec;
    let consumer = |name: &str, class: Option<&str>| {
        let mut c = Consumer::new(name, ConsumerSpec::default());
        c.metadata.annotations = class.map(|class| {
            std::collections::BTreeMap::from([(
                crate::operator::CLASS_ANNOTATION.to_owned(),
                class.to_owned(),
            )])
        });
        Arc::new(c)
    };
    let all = vec![
        consumer("plain", None),
        consumer("default", Some("tollgate")),
        consumer("team", Some("team-b")),
    ];
    let names = |objects: Vec<Arc<Consumer>>| -> Vec<String> {
        objects
            .iter()
            .map(|o| o.metadata.name.clone().unwrap_or_default())
            .collect()
    };
    assert_eq!(
        names(of_class(all.clone(), "tollgate")),
        ["plain", "default"]
    );
    assert_eq!(names(of_class(all, "team-b")), ["team"]);
}

#[test]
fn a_replica_holding_nothing_does_not_make_served_objects_pending() {
    let mut history = History::new(4);
    let key = ObjectKey::new(crate::translate::Kind::Consumer, NS, "jane");
    history.record("h1", BTreeMap::from([(key.clone(), 2)]));
    let held = Some("h1".to_owned());
    // A new or replaced replica (nothing held yet, or not reached yet) beside one serving it.
    let acked = serving_replicas(vec![held.clone(), None]);
    assert!(history.programmed(&key, 2, &acked));
    // A replica holding an older or unknown snapshot still counts: it serves traffic.
    let acked = serving_replicas(vec![held.clone(), Some("older".to_owned()), None]);
    assert!(!history.programmed(&key, 2, &acked));
    // No replica holds anything: nothing serves the object.
    let acked = serving_replicas(vec![None, None]);
    assert_eq!(acked.len(), 2);
    assert!(!history.programmed(&key, 2, &acked));
}

#[tokio::test]
async fn a_named_secret_that_exists_without_the_label_is_secret_not_labelled_with_the_fix() {
    let fixtures = fixtures();
    let (client, mut api) = mock_client();
    let mut stores = stores(&fixtures);
    // The metadata-only watch sees the Secret; the labelled watch does not.
    stores.secret_names = Multi::fixed(vec![
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "PartialObjectMetadata",
            "metadata": {"name": "missing-secret", "namespace": NS, "labels": {"app": "x"}}
        }))
        .expect("metadata"),
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "PartialObjectMetadata",
            "metadata": {"name": "demo-secret", "namespace": NS,
                         "labels": {"tollgate.dev/secret": "credential"}}
        }))
        .expect("metadata"),
    ]);
    let mut r = reconciler(stores, client);
    let sent = leader_pass(&mut r, &mut api, &fixtures).await;
    let resolved = condition(&sent.applies["nosecret"], "ResolvedRefs");
    assert_eq!(resolved["reason"], "SecretNotLabelled");
    let message = resolved["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "kubectl label secret -n {NS} missing-secret tollgate.dev/secret=credential"
        )),
        "{message}"
    );
    assert_eq!(
        condition(&sent.applies["ok"], "ResolvedRefs")["status"],
        "True",
        "a labelled Secret is read as before"
    );
}

/// An Ingress of ours with a plugin, one naming a missing plugin, one of another controller's
/// class, one of another Tollgate install's class; the publish Service `tollgate/proxy`.
fn with_ingresses(mut stores: Stores, publish: Value) -> Stores {
    let ingress =
        |name: &str, class: &str, plugins: &str| -> k8s_openapi::api::networking::v1::Ingress {
            serde_json::from_value(json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"),
                             "annotations": {"tollgate.dev/plugins": plugins}},
                "spec": {"ingressClassName": class, "rules": [{"http": {"paths": [
                    {"path": format!("/{name}"), "pathType": "Prefix",
                     "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
            }))
            .expect("ingress")
        };
    stores.ingresses = Multi::fixed(vec![
        ingress("served", "tollgate", "oauth2"),
        ingress("guarded", "tollgate", "nope"),
        ingress("theirs", "nginx", "oauth2"),
        ingress("team-b", "team-b", "oauth2"),
    ]);
    stores.ingress_classes = Multi::fixed(vec![
        serde_json::from_value(json!({"metadata": {"name": "tollgate"},
            "spec": {"controller": "tollgate.dev/ingress-controller"}}))
        .expect("class"),
        // Another install's class (its `tollgate.dev/class`): not this controller's.
        serde_json::from_value(json!({"metadata": {"name": "team-b",
                "annotations": {"tollgate.dev/class": "team-b"}},
            "spec": {"controller": "tollgate.dev/ingress-controller"}}))
        .expect("class"),
    ]);
    let mut service: k8s_openapi::api::core::v1::Service =
        serde_json::from_value(publish).expect("service");
    crate::operator::stores::Trim::trim(&mut service);
    stores.publish_service = Multi::fixed(vec![service]);
    stores
}

/// Drives one leader pass; the requests about Ingresses (merge patches of their status, Events
/// regarding them), by Ingress name.
async fn ingress_pass(
    reconciler: &mut Pipeline,
    api: &mut MockApi,
    fixtures: &BTreeMap<&str, Value>,
) -> (BTreeMap<String, Value>, Vec<(String, String)>) {
    let (mut patches, mut events) = (BTreeMap::new(), Vec::new());
    let pass = reconciler.pass(true);
    tokio::pin!(pass);
    let deadline = tokio::time::sleep(Duration::from_secs(20));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            result = &mut pass => {
                result.expect("the pass succeeds");
                return (patches, events);
            }
            () = &mut deadline => panic!("the pass did not finish"),
            seen = api.answer_with(|method, uri| {
                if uri.contains("/ingresses/") {
                    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                           "metadata": {"name": "x", "namespace": NS}})
                } else {
                    reply(method, uri, fixtures)
                }
            }) => {
                if seen.uri.contains("/events") {
                    if seen.body["regarding"]["kind"] == "Ingress" {
                        let name = seen.body["regarding"]["name"].as_str().unwrap_or_default();
                        let reason = seen.body["reason"].as_str().unwrap_or_default();
                        events.push((name.to_owned(), reason.to_owned()));
                    }
                } else if seen.uri.contains("/ingresses/") {
                    assert_eq!(seen.method, "PATCH", "{}", seen.uri);
                    assert!(seen.uri.contains("/status?"), "{}", seen.uri);
                    assert_eq!(seen.content_type.as_deref(), Some("application/merge-patch+json"));
                    let name = seen.uri.split("/status").next().and_then(|p| p.rsplit('/').next()).unwrap_or_default();
                    patches.insert(name.to_owned(), seen.body);
                }
            }
        }
    }
}

#[tokio::test]
async fn ingresses_of_our_class_get_the_publish_services_address_and_an_event_per_problem() {
    let fixtures = fixtures();
    let service = |status: Value| {
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "proxy", "namespace": "tollgate"},
               "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]},
               "status": status})
    };
    let (client, mut api) = mock_client();
    let mut r = reconciler(
        with_ingresses(stores(&fixtures), service(json!({}))),
        client,
    );
    let (patches, mut events) = ingress_pass(&mut r, &mut api, &fixtures).await;
    events.sort();
    // The cluster IP, for both Ingresses of ours (served or not); none for another class's, nor
    // for another install's.
    let want = json!({"status": {"loadBalancer": {"ingress": [{"ip": "10.96.0.10"}]}}});
    assert_eq!(patches.keys().collect::<Vec<_>>(), ["guarded", "served"]);
    assert!(patches.values().all(|p| *p == want), "{patches:?}");
    // An Event per problem: the missing plugin, and (no Service `web` in the stores) the
    // unknown backend of the other.
    assert_eq!(
        events,
        [
            ("guarded".to_owned(), "PluginNotFound".to_owned()),
            ("served".to_owned(), "ServiceNotFound".to_owned())
        ]
    );

    // Written only on change: the same pass again writes and tells nothing.
    let (patches, events) = ingress_pass(&mut r, &mut api, &fixtures).await;
    assert!(
        patches.is_empty() && events.is_empty(),
        "{patches:?} {events:?}"
    );

    // A load balancer's address takes over from the cluster IP.
    let (client, mut api) = mock_client();
    let balanced = service(json!({"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}));
    let mut r = reconciler(with_ingresses(stores(&fixtures), balanced), client);
    let (patches, _) = ingress_pass(&mut r, &mut api, &fixtures).await;
    assert_eq!(
        patches["served"],
        json!({"status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}})
    );
}

#[test]
fn published_addresses_prefer_the_load_balancer_then_external_ips_then_the_cluster_ip() {
    use crate::operator::status_writer::published_addresses;
    let service = |spec: Value, status: Value| -> k8s_openapi::api::core::v1::Service {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec, "status": status}))
            .expect("service")
    };
    let ips = |s: &k8s_openapi::api::core::v1::Service| -> Vec<String> {
        published_addresses(s)
            .into_iter()
            .map(|a| a.ip.or(a.hostname).unwrap_or_default())
            .collect()
    };
    let spec = json!({"clusterIP": "10.0.0.1", "externalIPs": ["192.0.2.1", "192.0.2.2"]});
    assert_eq!(
        ips(&service(
            spec.clone(),
            json!({"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}})
        )),
        ["198.51.100.7"]
    );
    assert_eq!(
        ips(&service(spec, json!({"loadBalancer": {}}))),
        ["192.0.2.1", "192.0.2.2"]
    );
    assert_eq!(
        ips(&service(json!({"clusterIP": "10.0.0.1"}), json!({}))),
        ["10.0.0.1"]
    );
    assert!(ips(&service(json!({"clusterIP": "None"}), json!({}))).is_empty());
}

/// Stores with the Gateway API kinds set (as once their CRDs are served).
fn with_gateway_api(stores: Stores, objects: &[Value]) -> Stores {
    let of = |kind: &str| -> Vec<Value> {
        objects
            .iter()
            .filter(|o| o["kind"] == kind)
            .cloned()
            .collect()
    };
    let typed = |kind: &str| -> Vec<_> { of(kind) };
    let gateway = crate::operator::stores::GatewayStores {
        classes: Multi::fixed(
            typed("GatewayClass")
                .into_iter()
                .map(|v| serde_json::from_value(v).expect("class"))
                .collect(),
        ),
        gateways: Multi::fixed(
            typed("Gateway")
                .into_iter()
                .map(|v| serde_json::from_value(v).expect("gateway"))
                .collect(),
        ),
        routes: Multi::fixed(
            typed("HTTPRoute")
                .into_iter()
                .map(|v| serde_json::from_value(v).expect("route"))
                .collect(),
        ),
        grants: Multi::fixed(vec![]),
    };
    assert!(gateway.is_ready());
    assert!(stores.gateway.set(gateway).is_ok());
    stores
}

#[tokio::test]
async fn http_route_status_keeps_other_controllers_entries_and_merges_again_after_a_conflict() {
    let theirs = json!({"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "theirs"},
                        "controllerName": "example.com/other", "conditions": []});
    let newer = json!({"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "newer"},
                       "controllerName": "example.com/other", "conditions": []});
    let route = json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "r", "namespace": NS, "uid": "route-uid", "generation": 2, "resourceVersion": "5"},
        "spec": {"parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}],
                 "rules": [{"backendRefs": [{"name": "nope", "port": 80}]}]},
        "status": {"parents": [theirs.clone()]},
    });
    let objects = [
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
               "metadata": {"name": "tollgate", "uid": "class-uid", "generation": 1},
               "spec": {"controllerName": "tollgate.dev/gateway-controller"}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
               "metadata": {"name": "gw", "namespace": NS, "uid": "gw-uid", "generation": 1},
               "spec": {"gatewayClassName": "tollgate",
                        "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]}}),
        route.clone(),
        // Another controller's class, Gateway and route: never written.
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
               "metadata": {"name": "other", "uid": "other-class-uid", "generation": 1},
               "spec": {"controllerName": "example.com/other"}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
               "metadata": {"name": "theirs", "namespace": NS, "uid": "other-gw-uid", "generation": 1},
               "spec": {"gatewayClassName": "other",
                        "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
               "metadata": {"name": "their-route", "namespace": NS, "uid": "other-route-uid", "generation": 1},
               "spec": {"parentRefs": [{"name": "theirs"}],
                        "rules": [{"backendRefs": [{"name": "nope", "port": 80}]}]}}),
    ];
    let (client, mut api) = mock_client();
    let stores = with_gateway_api(stores(&BTreeMap::new()), &objects);
    let mut r = reconciler(stores, client);
    let mut seen = Vec::new();
    {
        let pass = r.pass(true);
        tokio::pin!(pass);
        loop {
            tokio::select! {
                result = &mut pass => {
                    result.expect("the pass succeeds");
                    break;
                }
                () = tokio::time::sleep(Duration::from_secs(20)) => panic!("the pass did not finish: {:?}", seen.iter().map(|s: &crate::operator::mock_api::Seen| s.uri.clone()).collect::<Vec<_>>()),
                s = async {
                    // The first merge patch of the route meets a 409: another controller wrote.
                    let conflicts = seen.iter().filter(|s: &&crate::operator::mock_api::Seen| s.uri.contains("/httproutes/r/status")).count() == 0;
                    let mut fresh = route.clone();
                    fresh["metadata"]["resourceVersion"] = json!("7");
                    fresh["status"]["parents"] = json!([theirs.clone(), newer.clone()]);
                    api.respond_with(move |method, uri| {
                        if uri.contains("/httproutes/r/status") && conflicts {
                            (409, crate::operator::mock_api::status_error(409, "Conflict"))
                        } else if method == "GET" && uri.contains("/httproutes/r") {
                            (200, fresh)
                        } else {
                            (200, json!({"apiVersion": "v1", "kind": "Status", "metadata": {}}))
                        }
                    }).await
                } => seen.push(s),
            }
        }
    }
    let uris: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.uri.as_str()))
        .collect();
    for other in [
        "/gatewayclasses/other",
        "/gateways/theirs",
        "/httproutes/their-route",
    ] {
        assert!(
            !uris.iter().any(|(_, u)| u.contains(other)),
            "another controller's object is left alone: {uris:?}"
        );
    }
    let class = seen
        .iter()
        .find(|s| s.uri.contains("/gatewayclasses/tollgate/status"))
        .expect("class status");
    assert_eq!(
        class.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(class.body["status"]["conditions"][0]["type"], "Accepted");
    assert_eq!(class.body["status"]["conditions"][0]["status"], "True");
    let gateway = seen
        .iter()
        .find(|s| s.uri.contains("/gateways/gw/status"))
        .expect("gateway status");
    let programmed = gateway.body["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == "Programmed")
        .expect("Programmed")
        .clone();
    assert_eq!(
        (programmed["status"].as_str(), programmed["reason"].as_str()),
        (Some("False"), Some("Pending")),
        "no proxy acknowledged it yet"
    );
    assert_eq!(gateway.body["status"]["listeners"][0]["attachedRoutes"], 1);
    let patches: Vec<&crate::operator::mock_api::Seen> = seen
        .iter()
        .filter(|s| s.uri.contains("/httproutes/r/status"))
        .collect();
    assert_eq!(patches.len(), 2, "{uris:?}");
    assert!(
        uris.iter()
            .any(|(m, u)| *m == "GET" && u.contains("/httproutes/r")),
        "re-read after the 409: {uris:?}"
    );
    let first = &patches[0].body;
    assert_eq!(
        patches[0].content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(first["metadata"]["resourceVersion"], "5");
    let last = &patches[1].body;
    assert_eq!(
        last["metadata"]["resourceVersion"], "7",
        "written against what was re-read"
    );
    let parents = last["status"]["parents"].as_array().expect("parents");
    assert_eq!(parents.len(), 3, "{last}");
    assert_eq!(parents[0], theirs);
    assert_eq!(parents[1], newer, "the entry written meanwhile is kept");
    assert_eq!(
        parents[2]["controllerName"],
        "tollgate.dev/gateway-controller"
    );
    let resolved = parents[2]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == "ResolvedRefs")
        .expect("ResolvedRefs")
        .clone();
    assert_eq!(resolved["reason"], "BackendNotFound");
    assert_eq!(resolved["observedGeneration"], 2);
    let events: Vec<&Value> = seen
        .iter()
        .filter(|s| s.uri.contains("/events"))
        .map(|s| &s.body)
        .collect();
    assert_eq!(events.len(), 1, "{uris:?}");
    assert_eq!(events[0]["reason"], "BackendNotFound");
    assert_eq!(events[0]["regarding"]["kind"], "HTTPRoute");

    // The next pass finds everything written: nothing more goes out.
    let pass = r.pass(true);
    tokio::time::timeout(Duration::from_secs(20), pass)
        .await
        .expect("a quiet pass")
        .expect("the pass succeeds");
}

/// A pass reads a certificate Secret an Ingress names without the label with one `get`; refused
/// (403), it is not read again by the next pass, and the loop is woken for the retry.
#[tokio::test]
async fn an_unlabelled_tls_secret_is_read_by_name_and_a_refused_read_backs_off() {
    let fixtures = fixtures();
    let (client, mut api) = mock_client();
    let mut stores = stores(&fixtures);
    stores.ingress_classes = Multi::fixed(vec![
        serde_json::from_value(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": "tollgate"},
            "spec": {"controller": "tollgate.dev/ingress-controller"}
        }))
        .expect("class"),
    ]);
    stores.ingresses = Multi::fixed(vec![
        serde_json::from_value(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "shop", "namespace": NS, "uid": "u-shop"},
            "spec": {"ingressClassName": "tollgate",
                     "tls": [{"hosts": ["shop.example.test"], "secretName": "site-cert"}],
                     "rules": [{"host": "shop.example.test", "http": {"paths": [
                         {"path": "/", "pathType": "Prefix",
                          "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
        }))
        .expect("ingress"),
    ]);
    stores.secret_names = Multi::fixed(vec![
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "PartialObjectMetadata",
            "metadata": {"name": "site-cert", "namespace": NS, "resourceVersion": "7",
                         "annotations": {"cert-manager.io/certificate-name": "site"}}
        }))
        .expect("metadata"),
    ]);
    let mut r = reconciler(stores, client);
    let refused = json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
                         "reason": "Forbidden", "code": 403,
                         "message": "secrets \"site-cert\" is forbidden"});
    let (result, seen) = tokio::join!(r.pass(false), api.answer(403, refused));
    result.expect("the pass succeeds");
    assert_eq!(seen.method, "GET");
    assert!(
        seen.uri
            .starts_with(&format!("/api/v1/namespaces/{NS}/secrets/site-cert")),
        "{}",
        seen.uri
    );
    assert_eq!(r.certificate_secrets.gets(), 1);
    assert_eq!(
        r.certificate_retry,
        Some(crate::operator::certificate_secrets::RETRY_FIRST)
    );
    // The next pass (another object changed) asks nothing: no one would answer.
    tokio::time::timeout(Duration::from_secs(10), r.pass(false))
        .await
        .expect("the pass asks the API server nothing")
        .expect("the pass succeeds");
    assert_eq!(r.certificate_secrets.gets(), 1);
}
