//! The backend address policy at connect time: a backend whose host resolves to a refused
//! address gets the client a 502 with the usual upstream-error body, through both upstream
//! clients (the inline one for bodiless GETs, hyper's for bodies and `https`), whether the host
//! is a literal or a name (`localhost`, judged after resolution); an allow-list lets it through;
//! the proxy's own ports are refused whatever the lists say. Every upstream here is live, so a
//! 502 can only come from the refusal, never from a failed connection.

use crate::support;

use std::net::SocketAddr;

use http::StatusCode;
use support::client::{self, empty, get, json};
use support::{RunningProxy, SnapshotBuilder, backend, upstream};
use tollgate_core::snapshot::{Backend, Snapshot};
use tollgate_proxy::options::{AddressPolicy, Cidr, ProxyOptions};

const BAD_UPSTREAM: &str = "An invalid response was received from the upstream server";

fn named(host: &str, port: u16) -> Backend {
    let mut b = backend(&[]);
    b.endpoints = vec![format!("{host}:{port}")];
    b
}

/// Routes `/literal` (`127.0.0.1:port`) and `/named` (`localhost:port`) to `upstream`.
fn loopback_routes(upstream: SocketAddr) -> Snapshot {
    SnapshotBuilder::quickstart()
        .open_route("default/literal", "/literal", Some(backend(&[upstream])))
        .open_route(
            "default/named",
            "/named",
            Some(named("localhost", upstream.port())),
        )
        .build()
}

fn cidrs(list: &[&str]) -> Vec<Cidr> {
    list.iter().map(|c| c.parse().expect(c)).collect()
}

fn cluster(allow: &[&str], deny: &[&str]) -> impl FnOnce(&mut ProxyOptions) {
    let policy = AddressPolicy::cluster()
        .allow(cidrs(allow))
        .deny(cidrs(deny));
    move |o: &mut ProxyOptions| o.backend_policy = policy
}

/// A bodiless GET (the inline client) and a POST with a body (hyper's client) to `path`.
async fn both_clients(proxy: &RunningProxy, path: &str) -> [(StatusCode, String); 2] {
    let get_reply = client::send(proxy.http, get(path).body(empty()).expect("request")).await;
    let post = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("host", "gateway.test")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(b"hi")))
        .expect("request");
    let post_reply = client::send(proxy.http, post).await;
    [get_reply, post_reply].map(|reply| {
        let body = if reply.status() == StatusCode::OK {
            String::new()
        } else {
            json(&reply)["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        (reply.status(), body)
    })
}

fn refused() -> [(StatusCode, String); 2] {
    std::array::from_fn(|_| (StatusCode::BAD_GATEWAY, BAD_UPSTREAM.to_owned()))
}

fn served() -> [(StatusCode, String); 2] {
    std::array::from_fn(|_| (StatusCode::OK, String::new()))
}

#[tokio::test]
async fn cluster_mode_refuses_a_backend_resolving_to_loopback_literal_or_named() {
    let up = upstream::start().await;
    let proxy = RunningProxy::start_with(Some(loopback_routes(up)), cluster(&[], &[])).await;
    for path in ["/literal/x", "/named/x"] {
        assert_eq!(both_clients(&proxy, path).await, refused(), "{path}");
    }
}

#[tokio::test]
async fn an_allow_list_entry_lets_loopback_backends_through_in_cluster_mode() {
    let up = upstream::start().await;
    let options = cluster(&["127.0.0.0/8", "::1/128"], &[]);
    let proxy = RunningProxy::start_with(Some(loopback_routes(up)), options).await;
    for path in ["/literal/x", "/named/x"] {
        assert_eq!(both_clients(&proxy, path).await, served(), "{path}");
    }
    let reply = client::send(proxy.http, get("/named/y").body(empty()).expect("r")).await;
    assert_eq!(json(&reply)["uri"], "/y");
}

#[tokio::test]
async fn a_name_is_judged_by_the_address_it_resolves_to_not_by_its_spelling() {
    let up = upstream::start().await;
    // Allowing only the IPv4 loopback block: `localhost` is served through 127.0.0.1 (its ::1
    // answer, if any, is refused and skipped), so the decision was made on resolved addresses.
    let proxy =
        RunningProxy::start_with(Some(loopback_routes(up)), cluster(&["127.0.0.1/32"], &[])).await;
    assert_eq!(both_clients(&proxy, "/named/x").await, served());
    // Denying the one address it resolves to refuses the name.
    let proxy = RunningProxy::start_with(Some(loopback_routes(up)), |o| {
        o.backend_policy = AddressPolicy::standalone().deny(cidrs(&["127.0.0.0/8"]));
    })
    .await;
    assert_eq!(both_clients(&proxy, "/named/x").await, refused());
    assert_eq!(both_clients(&proxy, "/literal/x").await, refused());
}

#[tokio::test]
async fn ipv4_mapped_and_numeric_spellings_of_loopback_are_refused() {
    let up = upstream::start().await;
    let port = up.port();
    let snapshot = SnapshotBuilder::quickstart()
        .open_route(
            "default/mapped",
            "/mapped",
            Some(named("[::ffff:127.0.0.1]", port)),
        )
        .open_route(
            "default/decimal",
            "/decimal",
            Some(named("2130706433", port)),
        )
        .build();
    let proxy = RunningProxy::start_with(Some(snapshot), cluster(&[], &[])).await;
    for path in ["/mapped/x", "/decimal/x"] {
        assert_eq!(both_clients(&proxy, path).await, refused(), "{path}");
    }
}

#[tokio::test]
async fn an_https_backend_resolving_to_loopback_is_refused_before_the_handshake() {
    let (addr, ca) = upstream::start_tls().await;
    let mut tls_backend = named("localhost", addr.port());
    tls_backend.scheme = "https".to_owned();
    let snapshot = SnapshotBuilder::quickstart()
        .open_route("default/tls", "/tls", Some(tls_backend))
        .build();
    let refusing = RunningProxy::start_with(Some(snapshot.clone()), |o| {
        o.upstream_ca = Some(ca.clone());
        o.backend_policy = AddressPolicy::cluster();
    })
    .await;
    assert_eq!(both_clients(&refusing, "/tls/x").await, refused());
    let allowing = RunningProxy::start_with(Some(snapshot), |o| {
        o.upstream_ca = Some(ca);
        o.backend_policy = AddressPolicy::cluster().allow(cidrs(&["127.0.0.0/8", "::1"]));
    })
    .await;
    assert_eq!(both_clients(&allowing, "/tls/x").await, served());
}

#[tokio::test]
async fn the_proxys_own_ports_are_refused_even_where_loopback_is_allowed() {
    // Standalone mode's policy plus an allow-list covering everything.
    let proxy = RunningProxy::start_with(None, |o| {
        o.backend_policy = AddressPolicy::standalone().allow(cidrs(&["0.0.0.0/0", "::/0"]));
    })
    .await;
    let snapshot = SnapshotBuilder::quickstart()
        .open_route("default/admin", "/admin", Some(backend(&[proxy.admin])))
        .open_route(
            "default/admin-named",
            "/admin-named",
            Some(named("localhost", proxy.admin.port())),
        )
        .open_route("default/loop", "/loop", Some(backend(&[proxy.http])))
        .build();
    proxy.state.apply(snapshot).expect("valid snapshot");
    for path in ["/admin/metrics", "/admin-named/metrics", "/loop/x"] {
        assert_eq!(both_clients(&proxy, path).await, refused(), "{path}");
    }
    // The admin port itself still answers its own clients.
    assert!(proxy.metrics().await.contains("tollgate_"));
}

#[tokio::test]
async fn standalone_mode_keeps_loopback_backends_and_a_refusal_leaves_other_routes_served() {
    let up = upstream::start().await;
    let snapshot = SnapshotBuilder::quickstart()
        .open_route("default/local", "/local", Some(backend(&[up])))
        .open_route(
            "default/metadata",
            "/metadata",
            Some(named("169.254.169.254", 80)),
        )
        .build();
    let proxy = RunningProxy::start_with(Some(snapshot), |o| {
        o.backend_policy = AddressPolicy::standalone();
    })
    .await;
    assert_eq!(both_clients(&proxy, "/metadata/x").await, refused());
    assert_eq!(both_clients(&proxy, "/local/x").await, served());
}
