//! Routes of one namespace never take requests meant for another namespace's protected routes.
//!
//! The proxy picks the route with the most specific host (exact, then the longest `*.` wildcard,
//! then none) and, among those, the longest path prefix. So a route of namespace B with the
//! path `/a/oauth2` would receive the token requests (client secrets included) of namespace A's
//! oauth2 route at `/a`, and one with the host `api.example.com` and path `/` every request that
//! A's protected route for `*.example.com` should have verified.
//!
//! A route without hosts claims only what no route naming the host takes: a route of another
//! namespace naming a host never takes anything from it. Within one host (or among routes
//! without hosts) a path prefix claims every longer path under it.
//!
//! Rule: of two routes of different namespaces where one would take some requests of the other
//! while that other carries a plugin, the newer one (creation time, then namespace and name) is
//! left out with [`reason::ROUTE_CONFLICT`] naming the older. Routes of one namespace may nest as
//! they like; a route may take requests of another namespace's unprotected route (as more
//! specific routes do in the Gateway API). Separate tenants by host names.

use std::collections::HashMap;

use k8s_openapi::jiff::Timestamp;
use tollgate_core::routing::prefix_matches;
use tollgate_core::snapshot::{Route, namespace_of};

use super::problem::{Kind, ProblemCondition, reason};
use super::{ObjectName, Problems};

/// How specific a route host is: the proxy tries exact hosts, then wildcards (longest suffix
/// first), then routes without hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Host<'a> {
    Any,
    /// `*.example.com` as `.example.com`.
    Wildcard(&'a str),
    Exact(&'a str),
}

impl Host<'_> {
    fn specificity(self) -> (u8, usize) {
        match self {
            Self::Any => (0, 0),
            Self::Wildcard(suffix) => (1, suffix.len()),
            Self::Exact(_) => (2, 0),
        }
    }

    /// Whether some request host matches both.
    fn overlaps(self, other: Self) -> bool {
        match (self, other) {
            (Self::Any, _) | (_, Self::Any) => true,
            (Self::Exact(a), Self::Exact(b)) => a == b,
            (Self::Exact(h), Self::Wildcard(s)) | (Self::Wildcard(s), Self::Exact(h)) => {
                h.ends_with(s) && h.len() > s.len()
            }
            (Self::Wildcard(a), Self::Wildcard(b)) => a.ends_with(b) || b.ends_with(a),
        }
    }
}

fn hosts(route: &Route) -> Vec<Host<'_>> {
    if route.hosts.is_empty() {
        return vec![Host::Any];
    }
    route
        .hosts
        .iter()
        .map(|h| match h.strip_prefix('*') {
            Some(suffix) => Host::Wildcard(suffix),
            None => Host::Exact(h.as_str()),
        })
        .collect()
}

fn paths(route: &Route) -> Vec<&str> {
    if route.paths.is_empty() {
        vec![""]
    } else {
        route.paths.iter().map(String::as_str).collect()
    }
}

/// Whether `taker` would get some request that `other` also matches.
fn takes(taker: &Route, other: &Route) -> bool {
    let (other_hosts, other_paths) = (hosts(other), paths(other));
    hosts(taker).into_iter().any(|th| {
        other_hosts.iter().any(|&oh| {
            if !th.overlaps(oh) || th.specificity() < oh.specificity() {
                return false;
            }
            // A route without hosts gets what no route naming the host takes: naming a host
            // takes nothing from it. Naming a host under another route's wildcard does.
            let more_specific_host = th.specificity() > oh.specificity();
            if more_specific_host && oh == Host::Any {
                return false;
            }
            paths(taker).into_iter().any(|tp| {
                other_paths.iter().any(|&op| {
                    // Under the other's prefix (or equal): the taker's longer prefix wins. A
                    // more specific host wins whatever the prefixes, where they overlap.
                    prefix_matches(op, tp) || (more_specific_host && prefix_matches(tp, op))
                })
            })
        })
    })
}

/// Whether either route would take requests of the other's while the other is protected.
fn conflict(a: &Route, b: &Route) -> bool {
    let intercepts =
        |taker: &Route, victim: &Route| !victim.plugins.is_empty() && takes(taker, victim);
    namespace_of(&a.id) != namespace_of(&b.id) && (intercepts(a, b) || intercepts(b, a))
}

/// The first path segment, up to `/` or `;` (`None` for a prefix that matches every path).
fn first_segment(prefix: &str) -> Option<&str> {
    let rest = prefix.strip_prefix('/').unwrap_or(prefix);
    let segment = rest.split(['/', ';']).next().unwrap_or("");
    (!segment.is_empty()).then_some(segment)
}

/// Buckets of accepted routes by first path segment; routes with a prefix matching every path
/// in `everywhere`. Two prefixes overlap only within one bucket or with `everywhere`.
#[derive(Default)]
struct Buckets {
    by_segment: HashMap<String, Vec<usize>>,
    everywhere: Vec<usize>,
}

/// A translated route with what orders it by age.
pub(crate) struct Aged {
    pub route: Route,
    pub created: Option<Timestamp>,
}

/// Leaves out the newer route of every cross-namespace conflict (see the module docs).
pub(crate) fn refuse_interception(mut routes: Vec<Aged>, problems: &mut Problems) -> Vec<Route> {
    // Oldest first; routes without a creation time (standalone) after, by namespace and name.
    routes.sort_by(|a, b| {
        (a.created.is_none(), a.created, &a.route.id).cmp(&(
            b.created.is_none(),
            b.created,
            &b.route.id,
        ))
    });
    let mut accepted: Vec<Route> = Vec::with_capacity(routes.len());
    let mut buckets = Buckets::default();
    for Aged { route, .. } in routes {
        let segments: Vec<Option<&str>> = paths(&route).into_iter().map(first_segment).collect();
        let older = if segments.contains(&None) {
            // Overlaps anything: compare with every accepted route.
            accepted.iter().find(|old| conflict(&route, old))
        } else {
            let mut candidates = buckets.everywhere.clone();
            for segment in segments.iter().flatten() {
                candidates.extend(buckets.by_segment.get(*segment).into_iter().flatten());
            }
            candidates
                .into_iter()
                .filter_map(|i| accepted.get(i))
                .find(|old| conflict(&route, old))
        };
        if let Some(older) = older {
            problems.push(
                Kind::GatewayRoute,
                &ObjectName::from_path(&route.id),
                ProblemCondition::Accepted,
                reason::ROUTE_CONFLICT,
                format!(
                    "it and the older route {} of another namespace would take requests of each \
                     other's where one is protected by a plugin; use other hosts or paths",
                    older.id
                ),
            );
            continue;
        }
        let index = accepted.len();
        if segments.contains(&None) {
            buckets.everywhere.push(index);
        }
        for segment in segments.into_iter().flatten() {
            buckets
                .by_segment
                .entry(segment.to_owned())
                .or_default()
                .push(index);
        }
        accepted.push(route);
    }
    accepted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(id: &str, hosts: &[&str], paths: &[&str], protected: bool) -> Route {
        Route {
            id: id.into(),
            hosts: hosts.iter().map(|h| (*h).into()).collect(),
            paths: paths.iter().map(|p| (*p).into()).collect(),
            methods: Vec::new(),
            strip_path: true,
            plugins: if protected {
                vec![format!("{}/auth", namespace_of(id))]
            } else {
                Vec::new()
            },
            backend: None,
            ..Route::default()
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
            // A route naming a host takes nothing from a route without hosts ...
            (
                &a_auth,
                route("b/host", &["api.example.com"], &["/"], false),
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
            // Broader than A's, same host class: A keeps its requests (and takes B's under
            // /a, which B's unprotected route cannot lose anything protected by).
            (&a_auth, route("b/root", &[], &["/"], false), false),
            // ... but a protected catch-all of B would lose its requests under /a to A.
            (&a_auth, route("b/root", &[], &["/"], true), true),
            (&a_auth, route("b/other", &[], &["/ab"], true), false),
            // Same namespace nests freely.
            (&a_auth, route("a/inner", &[], &["/a/x"], false), false),
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
        ];
        for (older, newer, refused) in cases {
            let mut problems = Problems::default();
            let routes = vec![
                Aged {
                    route: (*older).clone(),
                    created: Some(Timestamp::UNIX_EPOCH),
                },
                Aged {
                    route: newer.clone(),
                    created: Some(Timestamp::from_second(60).expect("time")),
                },
            ];
            let kept = refuse_interception(routes, &mut problems);
            let ids: Vec<&str> = kept.iter().map(|r| r.id.as_str()).collect();
            assert_eq!(
                !ids.contains(&newer.id.as_str()),
                *refused,
                "{} then {}: kept {ids:?}",
                older.id,
                newer.id
            );
            assert!(ids.contains(&older.id.as_str()), "the older always stays");
            assert_eq!(problems.0.len(), usize::from(*refused));
            if *refused {
                assert_eq!(problems.0[0].reason, reason::ROUTE_CONFLICT);
                assert!(problems.0[0].message.contains(&older.id));
            }
        }
    }

    #[test]
    fn many_routes_are_checked_through_buckets_with_the_same_outcome() {
        let mut routes: Vec<Aged> = (0..2000)
            .map(|i| Aged {
                route: route(
                    &format!("t{}/r{i}", i % 50),
                    &[],
                    &[&format!("/p{i}")],
                    true,
                ),
                created: None,
            })
            .collect();
        routes.push(Aged {
            route: route("zz/late", &[], &["/p7/x"], false),
            created: None,
        });
        let mut problems = Problems::default();
        let kept = refuse_interception(routes, &mut problems);
        assert_eq!(kept.len(), 2000);
        assert_eq!(problems.0.len(), 1);
        assert_eq!(problems.0[0].name, "late");
    }
}
