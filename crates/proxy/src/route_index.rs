//! Route lookup that stays fast with thousands of routes.
//!
//! Core's [`RouteTable`] scans its candidates in priority order, which costs tens of
//! microseconds at 10,000 routes. A path prefix can only match paths with the same first
//! segment (core's `prefix_matches` needs the rest to start at a segment boundary), so routes
//! are partitioned by the first segment of each of their prefixes; routes with a prefix that
//! has no first segment (`/`, or no paths) can match anything and join every partition. Each
//! partition is an ordinary core [`RouteTable`] over exactly the routes that could match, so
//! core's priority rules (hosts, longest prefix, methods, id) decide as before; indexes are
//! mapped back to the snapshot's.

use std::collections::HashMap;

use tollgate_core::routing::{RouteMatch, RouteTable};
use tollgate_core::snapshot::Route;

/// Below this many routes one table is fast enough.
const PARTITION_FROM: usize = 64;
/// With more catch-all routes than this, partitions would mostly repeat them: use one table.
const MAX_CATCH_ALL: usize = 64;

#[derive(Debug)]
struct Partition {
    table: RouteTable,
    /// Index in the snapshot of each route of `table`.
    indexes: Vec<usize>,
}

#[derive(Debug)]
pub struct RouteIndex {
    /// Every route (small snapshots, or when partitioning does not pay).
    all: RouteTable,
    /// By first path segment.
    partitions: HashMap<String, Partition>,
    /// Routes that match any first segment.
    catch_all: Option<Partition>,
}

/// The first segment of a path or prefix: `/api/v1` → `api`; `/` and `` → none.
fn first_segment(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let segment = rest.split('/').next().unwrap_or_default();
    (!segment.is_empty()).then_some(segment)
}

fn partition(routes: &[Route], indexes: Vec<usize>) -> Partition {
    let subset: Vec<Route> = indexes.iter().map(|&i| routes[i].clone()).collect();
    Partition {
        table: RouteTable::new(&subset),
        indexes,
    }
}

impl RouteIndex {
    pub fn new(routes: &[Route]) -> Self {
        let all = RouteTable::new(routes);
        let mut catch_all = Vec::new();
        let mut by_segment: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, route) in routes.iter().enumerate() {
            let mut everywhere = route.paths.is_empty();
            for prefix in &route.paths {
                match first_segment(prefix) {
                    Some(segment) => {
                        let list = by_segment.entry(segment.to_owned()).or_default();
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                    None => everywhere = true,
                }
            }
            if everywhere {
                catch_all.push(i);
            }
        }
        if routes.len() < PARTITION_FROM || catch_all.len() > MAX_CATCH_ALL {
            return Self {
                all,
                partitions: HashMap::new(),
                catch_all: None,
            };
        }
        let partitions = by_segment
            .into_iter()
            .map(|(segment, mut indexes)| {
                indexes.extend(catch_all.iter().copied());
                indexes.sort_unstable();
                indexes.dedup();
                (segment, partition(routes, indexes))
            })
            .collect();
        Self {
            all,
            partitions,
            catch_all: Some(partition(routes, catch_all)),
        }
    }

    /// The best route, as core's [`RouteTable::find`] over every route would answer, with
    /// `index` being the route's index in the snapshot.
    pub fn find(&self, host: Option<&str>, method: &str, path: &str) -> Option<RouteMatch<'_>> {
        let Some(catch_all) = &self.catch_all else {
            return self.all.find(host, method, path);
        };
        let part = first_segment(path)
            .and_then(|s| self.partitions.get(s))
            .unwrap_or(catch_all);
        let mut found = part.table.find(host, method, path)?;
        found.index = *part.indexes.get(found.index)?;
        Some(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(id: &str, hosts: &[&str], paths: &[&str], methods: &[&str]) -> Route {
        Route {
            id: id.to_owned(),
            hosts: hosts.iter().map(|s| (*s).to_owned()).collect(),
            paths: paths.iter().map(|s| (*s).to_owned()).collect(),
            methods: methods.iter().map(|s| (*s).to_owned()).collect(),
            strip_path: true,
            plugins: Vec::new(),
            backend: None,
        }
    }

    fn routes() -> Vec<Route> {
        let mut routes = vec![
            route("a/root", &[], &["/"], &[]),
            route("a/api", &[], &["/api"], &[]),
            route("a/api-post", &[], &["/api"], &["POST"]),
            route("a/api-v1", &[], &["/api/v1/"], &[]),
            route("a/host-api", &["example.com"], &["/api"], &[]),
            route("a/wild", &["*.example.com"], &["/w", "/api/x"], &[]),
            route("a/nopath", &["only.host"], &[], &[]),
            route("a/apix", &[], &["/apix"], &[]),
        ];
        for i in 0..200 {
            routes.push(route(&format!("b/r{i:03}"), &[], &[&format!("/r{i}")], &[]));
        }
        routes.sort_by(|a, b| a.id.cmp(&b.id));
        routes
    }

    #[test]
    fn partitioned_lookup_answers_exactly_as_the_full_table() {
        let routes = routes();
        let index = RouteIndex::new(&routes);
        assert!(index.catch_all.is_some(), "partitioned");
        let full = RouteTable::new(&routes);
        let hosts = [
            None,
            Some("example.com"),
            Some("a.example.com"),
            Some("only.host"),
        ];
        let methods = ["GET", "POST"];
        let paths = [
            "/",
            "/api",
            "/api/",
            "/api/v1",
            "/api/v1/x",
            "/api/x/y",
            "/apix",
            "/apix/1",
            "/ap",
            "/w",
            "/w/z",
            "/r1",
            "/r10/x",
            "/r199",
            "/r200",
            "/nothing",
            "/r1x",
        ];
        for host in hosts {
            for method in methods {
                for path in paths {
                    let expected = full
                        .find(host, method, path)
                        .map(|m| (m.index, m.matched_prefix));
                    let got = index
                        .find(host, method, path)
                        .map(|m| (m.index, m.matched_prefix));
                    assert_eq!(got, expected, "{host:?} {method} {path}");
                }
            }
        }
    }

    #[test]
    fn small_snapshots_use_one_table() {
        let routes = vec![route("a", &[], &["/x"], &[])];
        let index = RouteIndex::new(&routes);
        assert!(index.catch_all.is_none());
        assert_eq!(index.find(None, "GET", "/x/y").map(|m| m.index), Some(0));
        assert!(index.find(None, "GET", "/y").is_none());
    }

    #[test]
    fn first_segments_are_the_text_up_to_the_next_slash() {
        let cases = [
            ("/api/v1", Some("api")),
            ("/api", Some("api")),
            ("/", None),
            ("", None),
            ("/a/", Some("a")),
        ];
        for (path, expected) in cases {
            assert_eq!(first_segment(path), expected, "{path}");
        }
    }
}
