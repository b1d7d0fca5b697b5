//! Routes of one namespace never take requests meant for another namespace's protected routes.
//!
//! Every route kind (GatewayRoute, HTTPRoute) compiles into core routes; this check runs over
//! all of them at once, grouped by the object they came from. The proxy picks the route with the
//! most specific host (exact, then the longest `*.` wildcard, then none) and, among those, an
//! exact path before any prefix, then the longest path prefix, then conditions (method, headers,
//! query parameters) and rank. So a route of namespace B with the path prefix `/a/oauth2`, or the
//! exact path `/a/oauth2/token`, would receive the token requests (client secrets included) of
//! namespace A's oauth2 route at `/a`, and one with the host `api.example.com` and path `/`
//! every request that A's protected route for `*.example.com` should have verified.
//!
//! A route without hosts claims only what no route naming the host takes: a route of another
//! namespace naming a host never takes anything from it. Within one host (or among routes
//! without hosts) an exact path takes that path from every prefix above it, and a path prefix
//! claims every longer path under it. Conditions only narrow what a route matches: a route with
//! a method, header or query parameter condition still takes the requests that meet them, so it
//! is judged as if it had none (on either side). Two routes of equal priority (the same exact
//! path, or the same prefix) are taken to take each other's requests.
//!
//! Rule: of two objects of different namespaces where a route of one would take some requests
//! of a route of the other while that other carries a plugin, the newer object (creation time,
//! then namespace and name) is left out whole, with [`reason::ROUTE_CONFLICT`] naming the older.
//! Routes of one namespace may nest as they like; a route may take requests of another
//! namespace's unprotected route (as more specific routes do in the Gateway API). Separate
//! tenants by host names.

use std::collections::{HashMap, HashSet};

use k8s_openapi::jiff::Timestamp;
use tollgate_core::routing::prefix_matches;
use tollgate_core::snapshot::Route;

use super::problem::{Kind, ProblemCondition, reason};
use super::{ObjectName, Problems};

/// How specific a route host is: the proxy tries exact hosts, then wildcards (longest suffix
/// first), then routes without hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

/// One path match of a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PathMatch<'a> {
    /// A path prefix ("" for a route without paths: every path).
    Prefix(&'a str),
    Exact(&'a str),
}

impl<'a> PathMatch<'a> {
    fn text(self) -> &'a str {
        match self {
            Self::Prefix(p) | Self::Exact(p) => p,
        }
    }

    /// Whether some request path matches both.
    fn overlaps(self, other: Self) -> bool {
        match (self, other) {
            (Self::Prefix(a), Self::Prefix(b)) => prefix_matches(a, b) || prefix_matches(b, a),
            (Self::Exact(e), Self::Prefix(p)) | (Self::Prefix(p), Self::Exact(e)) => {
                prefix_matches(p, e)
            }
            (Self::Exact(a), Self::Exact(b)) => a == b,
        }
    }

    /// Within one host class: whether some request both match goes to `self` (a tie counts).
    /// An exact path ranks above every prefix; a longer prefix above a shorter one.
    fn wins_over(self, other: Self) -> bool {
        match (self, other) {
            (Self::Exact(e), Self::Prefix(p)) => prefix_matches(p, e),
            (Self::Exact(a), Self::Exact(b)) => a == b,
            (Self::Prefix(_), Self::Exact(_)) => false,
            // Under the other's prefix (or equal): the taker's longer prefix wins.
            (Self::Prefix(t), Self::Prefix(o)) => prefix_matches(o, t),
        }
    }
}

fn path_matches(route: &Route) -> Vec<PathMatch<'_>> {
    if route.paths.is_empty() && route.exact_paths.is_empty() {
        return vec![PathMatch::Prefix("")];
    }
    route
        .paths
        .iter()
        .map(|p| PathMatch::Prefix(p.as_str()))
        .chain(
            route
                .exact_paths
                .iter()
                .map(|p| PathMatch::Exact(p.as_str())),
        )
        .collect()
}

/// Whether `taker` would get some request that `other` also matches (conditions ignored: they
/// only narrow).
fn takes(taker: &Route, other: &Route) -> bool {
    let (other_hosts, other_paths) = (hosts(other), path_matches(other));
    let taker_paths = path_matches(taker);
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
            taker_paths.iter().any(|&tp| {
                other_paths.iter().any(|&op| {
                    // A more specific host wins whatever the paths, where they overlap.
                    if more_specific_host {
                        tp.overlaps(op)
                    } else {
                        tp.wins_over(op)
                    }
                })
            })
        })
    })
}

/// Whether either route would take requests of the other's while the other is protected (the
/// caller knows they are of different namespaces).
fn conflict(a: &Route, b: &Route) -> bool {
    let intercepts =
        |taker: &Route, victim: &Route| !victim.plugins.is_empty() && takes(taker, victim);
    intercepts(a, b) || intercepts(b, a)
}

/// The first path segment, up to `/` or `;` (`None` for a path that does not have one: a
/// prefix matching every path, or the exact path `/`).
fn first_segment(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let segment = rest.split(['/', ';']).next().unwrap_or("");
    (!segment.is_empty()).then_some(segment)
}

/// The object a group of core routes was compiled from, and its age.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Owner {
    pub kind: Kind,
    pub object: ObjectName,
    pub created: Option<Timestamp>,
}

/// The core routes of one object (a GatewayRoute's one route, an HTTPRoute's route per rule
/// and match): they are kept or left out together.
pub(crate) struct Aged {
    pub owner: Owner,
    pub routes: Vec<Route>,
}

/// An object left out because it conflicts with an older one; its problem is already pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refused {
    pub kind: Kind,
    pub object: ObjectName,
    pub message: String,
}

/// Accepted routes by host and by first path segment: two routes can conflict only where a
/// host of each overlaps and their paths share the first segment (or one has none).
#[derive(Default)]
struct Index {
    /// Routes without hosts.
    any: Segments,
    exact: HashMap<String, Segments>,
    /// By suffix (`.example.com` for `*.example.com`).
    wildcard: HashMap<String, Segments>,
    /// Every named host under each suffix it ends with (`true` for a wildcard's suffix): the
    /// hosts a new wildcard covers.
    under_suffix: HashMap<String, HashSet<(bool, String)>>,
}

/// Indexes of accepted routes of one host.
#[derive(Default)]
struct Segments {
    by_segment: HashMap<String, Vec<usize>>,
    /// Routes with a path that has no first segment.
    everywhere: Vec<usize>,
    all: Vec<usize>,
}

/// The suffixes of `host` that start at a dot: `.b.c` and `.c` of `a.b.c`, and the whole of
/// `.b.c` (a wildcard's suffix) too.
fn dot_suffixes(host: &str) -> impl Iterator<Item = &str> {
    host.match_indices('.').map(move |(i, _)| &host[i..])
}

impl Index {
    fn segments_mut(&mut self, host: Host<'_>) -> &mut Segments {
        let (map, key) = match host {
            Host::Any => return &mut self.any,
            Host::Exact(h) => (&mut self.exact, h),
            Host::Wildcard(s) => (&mut self.wildcard, s),
        };
        map.entry(key.to_owned()).or_default()
    }

    fn insert(&mut self, index: usize, route: &Route) {
        for host in hosts(route) {
            if let Host::Exact(h) | Host::Wildcard(h) = host {
                let named = (matches!(host, Host::Wildcard(_)), h.to_owned());
                for suffix in dot_suffixes(h) {
                    // An exact host is not under its own whole name (`example.com` is not
                    // covered by `*.example.com`); `dot_suffixes` never yields it.
                    self.under_suffix
                        .entry(suffix.to_owned())
                        .or_default()
                        .insert(named.clone());
                }
            }
            let segments = self.segments_mut(host);
            push_once(&mut segments.all, index);
            for path in path_matches(route) {
                match first_segment(path.text()) {
                    Some(s) => {
                        push_once(segments.by_segment.entry(s.to_owned()).or_default(), index)
                    }
                    None => push_once(&mut segments.everywhere, index),
                }
            }
        }
    }

    /// Indexes of the accepted routes that might conflict with `route`, ascending (oldest
    /// first), each once.
    fn candidates(&self, route: &Route) -> Vec<usize> {
        let paths = path_matches(route);
        let mut out = Vec::new();
        let mut add = |segments: Option<&Segments>| {
            let Some(segments) = segments else {
                return;
            };
            for path in &paths {
                match first_segment(path.text()) {
                    Some(s) => {
                        out.extend(segments.by_segment.get(s).into_iter().flatten());
                        out.extend(&segments.everywhere);
                    }
                    None => out.extend(&segments.all),
                }
            }
        };
        for host in hosts(route) {
            match host {
                // Routes without hosts meet only each other (see `takes`).
                Host::Any => add(Some(&self.any)),
                Host::Exact(h) => {
                    add(self.exact.get(h));
                    // Wildcards covering it: `.b.c` and `.c` of `a.b.c`.
                    for suffix in dot_suffixes(h) {
                        add(self.wildcard.get(suffix));
                    }
                }
                Host::Wildcard(s) => {
                    // Wildcards covering it (itself included), and named hosts under it.
                    for suffix in dot_suffixes(s) {
                        add(self.wildcard.get(suffix));
                    }
                    for (wildcard, name) in self.under_suffix.get(s).into_iter().flatten() {
                        let map = if *wildcard {
                            &self.wildcard
                        } else {
                            &self.exact
                        };
                        add(map.get(name));
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn push_once(list: &mut Vec<usize>, index: usize) {
    if list.last() != Some(&index) {
        list.push(index);
    }
}

/// Leaves out the newer object of every cross-namespace conflict (see the module docs): the
/// routes kept, and the objects left out (each with its problem pushed).
pub(crate) fn refuse_interception(
    mut groups: Vec<Aged>,
    problems: &mut Problems,
) -> (Vec<Route>, Vec<Refused>) {
    // Only routes of different namespaces can conflict: with one namespace (or none) there is
    // nothing to index or compare. The caller sorts the routes by id.
    if groups
        .windows(2)
        .all(|pair| pair[0].owner.object.namespace == pair[1].owner.object.namespace)
    {
        return (
            groups.into_iter().flat_map(|g| g.routes).collect(),
            Vec::new(),
        );
    }
    // Oldest first; objects without a creation time (standalone) after, by namespace and name.
    groups.sort_by(|a, b| {
        let (a, b) = (&a.owner, &b.owner);
        (a.created.is_none(), a.created, &a.object, a.kind).cmp(&(
            b.created.is_none(),
            b.created,
            &b.object,
            b.kind,
        ))
    });
    // Accepted routes, and the position in `owners` of the object each came from.
    let mut accepted: Vec<(usize, Route)> = Vec::new();
    let mut owners: Vec<Owner> = Vec::new();
    let mut index = Index::default();
    let mut refused = Vec::new();
    for Aged { owner, routes } in groups {
        let found = routes.iter().find_map(|route| {
            index.candidates(route).into_iter().find_map(|i| {
                let (at, old) = accepted.get(i)?;
                let old_owner = owners.get(*at)?;
                (old_owner.object.namespace != owner.object.namespace && conflict(route, old))
                    .then_some((route, old, old_owner))
            })
        });
        if let Some((route, old, old_owner)) = found {
            let message = format!(
                "it and the older {} {} of another namespace would take requests of each other's \
                 where one is protected by a plugin (route {} against {}); use other hosts or \
                 paths",
                old_owner.kind,
                old_owner.object.path(),
                route.id,
                old.id
            );
            problems.push(
                owner.kind,
                &owner.object,
                ProblemCondition::Accepted,
                reason::ROUTE_CONFLICT,
                message.clone(),
            );
            refused.push(Refused {
                kind: owner.kind,
                object: owner.object,
                message,
            });
            continue;
        }
        let at = owners.len();
        for route in routes {
            index.insert(accepted.len(), &route);
            accepted.push((at, route));
        }
        owners.push(owner);
    }
    (accepted.into_iter().map(|(_, r)| r).collect(), refused)
}

#[cfg(test)]
#[path = "tenancy_tests.rs"]
mod tests;
