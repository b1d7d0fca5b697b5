//! Route lookup cost with a large table, through the [`RouteIndex`] the proxy serves with.
//! Prints build times and nanoseconds per lookup; asserts nothing (a benchmark figure, not a
//! test).
//!
//! Two tables of 5,000 objects with 4 routes each over 500 host names (20,000 routes by
//! default): `prefix`, GatewayRoute-like (prefixes only, one with a method), and `gateway`,
//! HTTPRoute-like (a prefix, an exact path, a prefix with a header match and one with a query
//! match). Every lookup finds a route.
//!
//! `cargo run --release -p tollgate-core --example route_lookup [routes]`

use std::time::Instant;

use http::{HeaderMap, HeaderValue};
use tollgate_core::routing::{RouteIndex, RouteRequest};
use tollgate_core::snapshot::{HeaderMatch, MatchKind, QueryParamMatch, Route};

fn prefix_routes(count: usize) -> Vec<Route> {
    (0..count)
        .map(|i| {
            let (object, rule) = (i / 4, i % 4);
            let path = match rule {
                0 => format!("/app{object}"),
                1 => format!("/app{object}/login"),
                2 => format!("/app{object}/api"),
                _ => format!("/app{object}/static"),
            };
            Route {
                id: format!("ns{}/r{object}-{rule}", object % 50),
                hosts: vec![format!("svc{}.example.com", object % 500)],
                paths: vec![path],
                methods: if rule == 2 {
                    vec!["GET".into()]
                } else {
                    vec![]
                },
                ..Route::default()
            }
        })
        .collect()
}

fn gateway_routes(count: usize) -> Vec<Route> {
    (0..count)
        .map(|i| {
            let (object, rule) = (i / 4, i % 4);
            let mut route = Route {
                id: format!("httproute/ns{}/r{object}/{rule}/0", object % 50),
                hosts: vec![format!("svc{}.example.com", object % 500)],
                rank: i as u64,
                ..Route::default()
            };
            match rule {
                0 => route.paths = vec![format!("/app{object}")],
                1 => route.exact_paths = vec![format!("/app{object}/login")],
                2 => {
                    route.paths = vec![format!("/app{object}/api")];
                    route.headers = vec![HeaderMatch {
                        name: "x-version".into(),
                        value: "2".into(),
                        kind: MatchKind::Exact,
                    }];
                }
                _ => {
                    route.paths = vec![format!("/app{object}/api")];
                    route.query_params = vec![QueryParamMatch {
                        name: "beta".into(),
                        value: "on".into(),
                        kind: MatchKind::Exact,
                    }];
                }
            }
            route
        })
        .collect()
}

struct Lookup {
    host: String,
    path: String,
    query: Option<&'static str>,
    headers: HeaderMap,
}

fn lookups(objects: usize, gateway: bool) -> Vec<Lookup> {
    (0..4096)
        .map(|n| {
            let object = (n * 7919) % objects.max(1);
            let mut headers = HeaderMap::new();
            headers.insert("accept", HeaderValue::from_static("*/*"));
            headers.insert("user-agent", HeaderValue::from_static("bench"));
            let (path, query) = match n % 4 {
                0 => (format!("/app{object}/page/{n}"), None),
                1 => (format!("/app{object}/login"), None),
                2 => {
                    headers.insert("x-version", HeaderValue::from_static("2"));
                    (format!("/app{object}/api/items"), None)
                }
                _ if gateway => (format!("/app{object}/api/items"), Some("beta=on&x=1")),
                _ => (format!("/app{object}/static/x.css"), None),
            };
            Lookup {
                host: format!("svc{}.example.com", object % 500),
                path,
                query,
                headers,
            }
        })
        .collect()
}

fn measure(name: &str, routes: Vec<Route>, gateway: bool) {
    let count = routes.len();
    let started = Instant::now();
    let index = RouteIndex::from_routes(routes);
    let built = started.elapsed();
    let requests = lookups(count / 4, gateway);
    let rounds = 100;
    let mut found = 0usize;
    let started = Instant::now();
    for _ in 0..rounds {
        for l in &requests {
            let request = RouteRequest {
                host: Some(&l.host),
                method: "GET",
                path: &l.path,
                query: l.query,
                headers: Some(&l.headers),
                listener: None,
            };
            found += usize::from(index.find_request(&request).is_some());
        }
    }
    let lookups = rounds * requests.len();
    println!(
        "{name}: {count} routes, index built in {:.1} ms; {lookups} lookups ({found} found): {:.0} ns per lookup",
        built.as_secs_f64() * 1e3,
        started.elapsed().as_nanos() as f64 / lookups as f64
    );
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    measure("prefix", prefix_routes(count), false);
    measure("gateway", gateway_routes(count), true);
}
