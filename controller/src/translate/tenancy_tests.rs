use tollgate_core::snapshot::{HeaderMatch, QueryParamMatch, namespace_of};

use super::*;

/// A route `ns/name` (the GatewayRoute id form) with hosts, path prefixes and exact paths
/// (exact ones written `=/path`), protected by a plugin or not.
fn route(id: &str, hosts: &[&str], paths: &[&str], protected: bool) -> Route {
    let (exact, prefixes): (Vec<&str>, Vec<&str>) = paths.iter().partition(|p| p.starts_with('='));
    Route {
        id: id.into(),
        hosts: hosts.iter().map(|h| (*h).into()).collect(),
        paths: prefixes.iter().map(|p| (*p).into()).collect(),
        exact_paths: exact.iter().map(|p| p[1..].into()).collect(),
        strip_path: true,
        plugins: if protected {
            vec![format!("{}/auth", namespace_of(id))]
        } else {
            Vec::new()
        },
        ..Route::default()
    }
}

/// With a method, a header and a query parameter condition.
fn conditioned(mut route: Route) -> Route {
    route.methods = vec!["POST".into()];
    route.headers = vec![HeaderMatch {
        name: "x-tenant".into(),
        value: "b".into(),
        kind: Default::default(),
    }];
    route.query_params = vec![QueryParamMatch {
        name: "v".into(),
        value: "1".into(),
        kind: Default::default(),
    }];
    route
}

fn owner(kind: Kind, id: &str, second: Option<i64>) -> Owner {
    Owner {
        kind,
        object: ObjectName::from_path(id),
        created: second.map(|s| Timestamp::from_second(s).expect("time")),
    }
}

/// A GatewayRoute's one route, created at `second`.
fn single(route: &Route, second: i64) -> Aged {
    Aged {
        owner: owner(Kind::GatewayRoute, &route.id, Some(second)),
        routes: vec![route.clone()],
    }
}

/// (older, newer, newer refused)
#[test]
fn the_newer_of_two_routes_that_would_take_each_others_requests_is_refused() {
    let a_auth = route("a/auth", &[], &["/a"], true);
    let cases: &[(&Route, Route, bool)] = &[
        // Nested under A's token endpoint route: would collect A's client secrets.
        (&a_auth, route("b/steal", &[], &["/a/oauth2"], false), true),
        (&a_auth, route("b/steal", &[], &["/a"], false), true),
        (&a_auth, route("b/steal", &[], &["/a;x"], false), true),
        // An exact path under A's prefix ranks above it: the token endpoint itself.
        (
            &a_auth,
            route("b/exact", &[], &["=/a/oauth2/token"], false),
            true,
        ),
        (&a_auth, route("b/exact", &[], &["=/a"], false), true),
        (
            &a_auth,
            route("b/exact", &[], &["=/ab/oauth2/token"], false),
            false,
        ),
        (&a_auth, route("b/exact", &[], &["=/"], false), false),
        // Conditions only narrow: a conditioned route still takes the requests meeting them.
        (
            &a_auth,
            conditioned(route("b/cond", &[], &["/a/oauth2"], false)),
            true,
        ),
        (
            &a_auth,
            conditioned(route("b/cond", &[], &["/a"], false)),
            true,
        ),
        (
            &a_auth,
            conditioned(route("b/cond", &[], &["=/a/oauth2/token"], false)),
            true,
        ),
        (
            &a_auth,
            conditioned(route("b/cond", &[], &["/b"], false)),
            false,
        ),
        // B's shorter prefix takes nothing from A's protected exact path ...
        (
            &route("a/exact", &[], &["=/a/x"], true),
            route("b/root", &[], &["/a"], false),
            false,
        ),
        // ... but a protected one loses that path to it.
        (
            &route("a/exact", &[], &["=/a/x"], false),
            route("b/root", &[], &["/a"], true),
            true,
        ),
        // ... but the same exact path is (a tie counts).
        (
            &route("a/exact", &[], &["=/a/x"], true),
            route("b/same", &[], &["=/a/x"], false),
            true,
        ),
        // A route naming a host takes nothing from a route without hosts ...
        (
            &a_auth,
            route("b/host", &["api.example.com"], &["/"], false),
            false,
        ),
        (
            &a_auth,
            route("b/host", &["api.example.com"], &["=/a/oauth2/token"], false),
            false,
        ),
        (
            &a_auth,
            route("b/wild", &["*.example.com"], &[], false),
            false,
        ),
        // ... but a more specific host under A's wildcard does, even with a shorter prefix.
        (
            &route("a/w", &["*.example.com"], &["/a"], true),
            route("b/host", &["api.example.com"], &["/"], false),
            true,
        ),
        // ... or a shorter exact path, where the paths overlap.
        (
            &route("a/w", &["*.example.com"], &["/a"], true),
            route("b/host", &["api.example.com"], &["=/a"], false),
            true,
        ),
        (
            &route("a/w", &["*.example.com"], &["/a"], true),
            route("b/host", &["api.example.com"], &["=/b"], false),
            false,
        ),
        // Broader than A's, same host class: A keeps its requests (and takes B's under
        // /a, which B's unprotected route cannot lose anything protected by).
        (&a_auth, route("b/root", &[], &["/"], false), false),
        // ... but a protected catch-all of B would lose its requests under /a to A.
        (&a_auth, route("b/root", &[], &["/"], true), true),
        (&a_auth, route("b/other", &[], &["/ab"], true), false),
        // Same namespace nests freely.
        (&a_auth, route("a/inner", &[], &["/a/x"], false), false),
        (
            &a_auth,
            route("a/inner", &[], &["=/a/oauth2/token"], false),
            false,
        ),
        // Hosts that never meet.
        (
            &route("a/h", &["a.example.com"], &["/"], true),
            route("b/h", &["b.example.com"], &["/"], true),
            false,
        ),
        (
            &route("a/h", &["*.a.example.com"], &["/"], true),
            route("b/h", &["x.a.example.com"], &["/"], false),
            true,
        ),
        (
            &route("a/h", &["*.example.com"], &["/"], true),
            route("b/h", &["*.a.example.com"], &["/x"], false),
            true,
        ),
        (
            &route("a/h", &["*.a.example.com"], &["/"], false),
            route("b/h", &["*.example.com"], &["/x"], true),
            true,
        ),
        (
            &route("a/h", &["example.com"], &["/"], true),
            route("b/h", &["*.example.com"], &["/"], true),
            false,
        ),
        // Neither protected: ordinary nesting across namespaces is allowed.
        (
            &route("a/open", &[], &["/a"], false),
            route("b/open", &[], &["/a/x"], false),
            false,
        ),
        // The older unprotected route would take the newer protected one's token requests.
        (
            &route("b/old", &[], &["/a/oauth2"], false),
            route("a/auth", &[], &["/a"], true),
            true,
        ),
        (
            &route("b/old", &[], &["=/a/oauth2/token"], false),
            route("a/auth", &[], &["/a"], true),
            true,
        ),
    ];
    for (older, newer, refused) in cases {
        let mut problems = Problems::default();
        let (kept, left_out) =
            refuse_interception(vec![single(older, 0), single(newer, 60)], &mut problems);
        let ids: Vec<&str> = kept.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            !ids.contains(&newer.id.as_str()),
            *refused,
            "{} then {:?}: kept {ids:?}",
            older.id,
            newer
        );
        assert!(ids.contains(&older.id.as_str()), "the older always stays");
        assert_eq!(problems.0.len(), usize::from(*refused));
        assert_eq!(left_out.len(), usize::from(*refused));
        if *refused {
            assert_eq!(problems.0[0].reason, reason::ROUTE_CONFLICT);
            assert!(problems.0[0].message.contains(&older.id));
            assert_eq!(left_out[0].object, ObjectName::from_path(&newer.id));
            assert_eq!(left_out[0].message, problems.0[0].message);
        }
    }
}

#[test]
fn an_object_with_one_intercepting_route_is_left_out_whole_whatever_its_kind() {
    // B's HTTPRoute: a harmless rule and one taking A's token endpoint.
    let a_token = Aged {
        owner: owner(Kind::HTTPRoute, "a/token", Some(0)),
        routes: vec![route("httproute/a/token/0/0", &[], &["/a"], true)],
    };
    let b_mixed = Aged {
        owner: owner(Kind::HTTPRoute, "b/mixed", Some(60)),
        routes: vec![
            route("httproute/b/mixed/0/0", &[], &["/b"], false),
            route("httproute/b/mixed/1/0", &[], &["=/a/oauth2/token"], false),
        ],
    };
    let b_own = Aged {
        owner: owner(Kind::HTTPRoute, "b/own", Some(120)),
        routes: vec![route("httproute/b/own/0/0", &[], &["/b/own"], false)],
    };
    let a_gateway_route = single(&route("a/legacy", &[], &["/legacy"], true), 30);
    let b_legacy = Aged {
        owner: owner(Kind::HTTPRoute, "b/legacy", Some(90)),
        routes: vec![route(
            "httproute/b/legacy/0/0",
            &[],
            &["/legacy/oauth2"],
            false,
        )],
    };
    let mut problems = Problems::default();
    let (kept, refused) = refuse_interception(
        vec![b_own, b_legacy, b_mixed, a_gateway_route, a_token],
        &mut problems,
    );
    let ids: Vec<&str> = kept.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        ["httproute/a/token/0/0", "a/legacy", "httproute/b/own/0/0"]
    );
    let left_out: Vec<(Kind, String)> = refused.iter().map(|r| (r.kind, r.object.path())).collect();
    assert_eq!(
        left_out,
        [
            (Kind::HTTPRoute, "b/mixed".to_owned()),
            (Kind::HTTPRoute, "b/legacy".to_owned()),
        ]
    );
    assert!(
        refused[0].message.contains("HTTPRoute a/token")
            && refused[0].message.contains("httproute/b/mixed/1/0"),
        "{}",
        refused[0].message
    );
    assert!(
        refused[1].message.contains("GatewayRoute a/legacy"),
        "{}",
        refused[1].message
    );
    assert!(problems.0.iter().all(|p| p.kind == Kind::HTTPRoute
        && p.reason == reason::ROUTE_CONFLICT
        && p.condition == ProblemCondition::Accepted));
}

#[test]
fn many_routes_are_checked_through_buckets_with_the_same_outcome() {
    let mut routes: Vec<Aged> = (0..2000)
        .map(|i| Aged {
            owner: owner(Kind::GatewayRoute, &format!("t{}/r{i}", i % 50), None),
            routes: vec![route(
                &format!("t{}/r{i}", i % 50),
                &[],
                &[&format!("/p{i}")],
                true,
            )],
        })
        .collect();
    routes.push(Aged {
        owner: owner(Kind::GatewayRoute, "zz/late", None),
        routes: vec![route("zz/late", &[], &["/p7/x"], false)],
    });
    let mut problems = Problems::default();
    let (kept, _) = refuse_interception(routes, &mut problems);
    assert_eq!(kept.len(), 2000);
    assert_eq!(problems.0.len(), 1);
    assert_eq!(problems.0[0].name, "late");
}

/// The same rule without the index: every object against every accepted one.
fn refused_without_index(groups: &[Aged]) -> Vec<String> {
    let mut accepted: Vec<(&str, &Route)> = Vec::new();
    let mut refused = Vec::new();
    for group in groups {
        let ns = group.owner.object.namespace.as_str();
        let conflicts = group.routes.iter().any(|r| {
            accepted
                .iter()
                .any(|(other_ns, old)| *other_ns != ns && conflict(r, old))
        });
        if conflicts {
            refused.push(group.owner.object.path());
        } else {
            accepted.extend(group.routes.iter().map(|r| (ns, r)));
        }
    }
    refused
}

#[test]
fn the_index_finds_every_conflict_a_scan_of_all_routes_finds() {
    // Hosts of every kind that overlap in every way, paths of every kind.
    let hosts: &[&[&str]] = &[
        &[],
        &["a.example.com"],
        &["b.example.com"],
        &["*.example.com"],
        &["*.a.example.com"],
        &["x.a.example.com"],
        &["example.com"],
        &["*.com"],
        &["a.example.com", "*.other.test"],
        &["y.other.test"],
    ];
    let paths: &[&[&str]] = &[
        &[],
        &["/"],
        &["/a"],
        &["/a/oauth2"],
        &["=/a/oauth2/token"],
        &["=/a"],
        &["=/"],
        &["/b", "=/a/x"],
        &["/a;p"],
        &["/ab"],
    ];
    // A fixed pseudo-random sequence (an LCG), so the case is the same on every run.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) as usize % n
    };
    let groups: Vec<Aged> = (0..600_i64)
        .map(|i| {
            let ns = format!("ns{}", next(4));
            let id = format!("{ns}/r{i:03}");
            let count = 1 + next(2);
            Aged {
                owner: owner(Kind::HTTPRoute, &id, Some(i)),
                routes: (0..count)
                    .map(|m| {
                        route(
                            &format!("{id}/{m}"),
                            hosts[next(hosts.len())],
                            paths[next(paths.len())],
                            next(3) == 0,
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    let expected = refused_without_index(&groups);
    let mut problems = Problems::default();
    let (_, refused) = refuse_interception(groups, &mut problems);
    let got: Vec<String> = refused.iter().map(|r| r.object.path()).collect();
    assert!(!expected.is_empty(), "the case has conflicts");
    assert_eq!(got, expected);
}

#[test]
fn routes_of_one_namespace_are_all_kept_however_they_overlap() {
    // Every pair would take the other's protected requests if they were of two namespaces.
    let groups: Vec<Aged> = (0..50)
        .map(|i| {
            single(
                &route(&format!("t/r{i}"), &["api.example.com"], &["/"], true),
                i,
            )
        })
        .collect();
    let mut problems = Problems::default();
    let (kept, refused) = refuse_interception(groups, &mut problems);
    assert_eq!(kept.len(), 50);
    assert!(refused.is_empty() && problems.0.is_empty());
    // One object of another namespace among them is still judged: the newest is refused.
    let mut groups: Vec<Aged> = (0..50)
        .map(|i| {
            single(
                &route(&format!("t/r{i}"), &["api.example.com"], &["/"], true),
                i,
            )
        })
        .collect();
    groups.push(single(
        &route("u/late", &["api.example.com"], &["/"], true),
        99,
    ));
    let (kept, refused) = refuse_interception(groups, &mut problems);
    assert_eq!(kept.len(), 50);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].object.path(), "u/late");
}
