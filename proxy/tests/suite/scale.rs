//! Scale: a snapshot of 100,000 consumers and credentials and 10,000 routes is
//! decoded, validated, compiled and swapped in quickly. Ignored by default (it takes a few
//! seconds in debug builds); run with
//! `cargo test --release -p tollgate-proxy --test suite scale:: -- --ignored --nocapture`.

use crate::support;

use std::time::Instant;

use support::{SnapshotBuilder, backend, route};
use tollgate_core::routing::RouteIndex;
use tollgate_core::snapshot::{ClientType, Consumer, Credential, Snapshot};
use tollgate_proxy::ProxyState;

fn uuid(kind: u8, i: u32) -> String {
    format!("{:08x}-0000-5000-8{kind:03x}-{:012x}", i, u64::from(i))
}

fn big_snapshot(consumers: u32, routes: u32) -> Snapshot {
    let upstream = "127.0.0.1:9".parse().expect("addr");
    SnapshotBuilder::quickstart()
        .upstream(upstream)
        .with(|s| {
            for i in 0..consumers {
                let consumer_id = uuid(1, i);
                let credential_id = uuid(2, i);
                let salt = tollgate_core::secret::deterministic_salt(&credential_id);
                s.consumers.push(Consumer {
                    groups: Vec::new(),
                    id: consumer_id.clone(),
                    object: format!("default/c{i}"),
                    username: format!("user{i}"),
                    custom_id: None,
                });
                s.credentials.push(Credential {
                    scopes: None,
                    id: credential_id,
                    object: format!("default/cred{i}"),
                    consumer_id,
                    name: format!("app{i}"),
                    client_id: format!("client{i}"),
                    client_type: ClientType::Confidential,
                    secret_verifier: Some(tollgate_core::secret::hash_sha256(b"s", &salt)),
                    redirect_uris: Vec::new(),
                    previous_secrets: Vec::new(),
                    tokens_survive_rotation: false,
                    incarnation: String::new(),
                });
            }
            for i in 0..routes {
                s.routes.push(route(
                    &format!("default/r{i:05}"),
                    &[&format!("/r{i}")],
                    Some("default/oidc"),
                    Some(backend(&[upstream])),
                ));
            }
            s.consumers.sort_by(|a, b| a.id.cmp(&b.id));
            s.credentials.sort_by(|a, b| a.id.cmp(&b.id));
        })
        .build()
}

#[test]
#[ignore = "scale measurement; run explicitly"]
fn a_snapshot_of_100k_credentials_and_10k_routes_applies_in_under_two_seconds() {
    let snapshot = big_snapshot(100_000, 10_000);
    let started = Instant::now();
    let json = snapshot.to_json();
    let encoded = started.elapsed();
    let started = Instant::now();
    let decoded: Snapshot = serde_json::from_slice(&json).expect("decode");
    let decode = started.elapsed();
    // The route table as the proxy compiles it from the snapshot's routes.
    let table = RouteIndex::from_routes(decoded.routes.clone());
    let state = ProxyState::new();
    let started = Instant::now();
    state.apply(decoded).expect("valid");
    let apply = started.elapsed();
    println!(
        "snapshot {} MiB: encode {encoded:?}, decode {decode:?}, validate+compile+swap {apply:?}",
        json.len() / (1024 * 1024)
    );
    assert!(
        (decode + apply).as_secs_f64() < 2.0,
        "too slow: {:?}",
        decode + apply
    );

    // Route lookups at this size: the catch-all `/` route sorts last among 10,000 prefixes.
    for (case, path) in [("/r9999/x", "/r9999/x"), ("catch-all /", "/elsewhere")] {
        let started = Instant::now();
        let rounds = 2_000u32;
        for _ in 0..rounds {
            let found = table.find(Some("localhost"), "GET", path);
            assert!(found.is_some(), "{case}");
        }
        println!("route lookup {case}: {:?} each", started.elapsed() / rounds);
    }
}
