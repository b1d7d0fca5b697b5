use super::*;

fn route(id: &str, hosts: &[&str], paths: &[&str], methods: &[&str]) -> Route {
    Route {
        id: id.to_string(),
        hosts: hosts.iter().map(|s| s.to_string()).collect(),
        paths: paths.iter().map(|s| s.to_string()).collect(),
        methods: methods.iter().map(|s| s.to_string()).collect(),
        strip_path: true,
        plugins: Vec::new(),
        backend: None,
        ..Route::default()
    }
}

#[test]
fn normalize_path_resolves_every_spelling_to_one_path() {
    let cases: &[(&str, Result<&str, PathError>)] = &[
        ("/", Ok("/")),
        ("/auth", Ok("/auth")),
        ("/auth/", Ok("/auth/")),
        ("//auth", Ok("/auth")),
        ("/auth//oauth2///token", Ok("/auth/oauth2/token")),
        ("/a/../auth", Ok("/auth")),
        ("/a/./b/.", Ok("/a/b/")),
        ("/a/b/..", Ok("/a/")),
        ("/a/..", Ok("/")),
        ("/%61uth", Ok("/auth")),
        ("/%2e%2E/x", Err(PathError::EscapesRoot)),
        ("/a/%2e%2e/auth", Ok("/auth")),
        ("/a%2Fb", Err(PathError::EncodedSeparator)),
        ("/a%2fb", Err(PathError::EncodedSeparator)),
        ("/a%5Cb", Err(PathError::EncodedSeparator)),
        ("/a%5cb", Err(PathError::EncodedSeparator)),
        ("/a\\b", Err(PathError::Backslash)),
        ("/public/..;/admin", Err(PathError::DotSegmentParameter)),
        ("/public/.;x/admin", Err(PathError::DotSegmentParameter)),
        ("/public/%2e%2e;/admin", Err(PathError::DotSegmentParameter)),
        ("/api;v=1/x", Ok("/api;v=1/x")),
        ("/a;b", Ok("/a;b")),
        ("/a%20b", Ok("/a%20b")),
        ("/%7e/%7E", Ok("/~/~")),
        ("/..", Err(PathError::EscapesRoot)),
        ("/a/../..", Err(PathError::EscapesRoot)),
        ("/a\0b", Err(PathError::ControlCharacter)),
        ("/a\nb", Err(PathError::ControlCharacter)),
        ("/a%00b", Err(PathError::ControlCharacter)),
        ("/a%0Ab", Err(PathError::ControlCharacter)),
        ("/a%7Fb", Err(PathError::ControlCharacter)),
        ("/a%", Err(PathError::BadEncoding)),
        ("/a%4", Err(PathError::BadEncoding)),
        ("/a%zz", Err(PathError::BadEncoding)),
        ("", Err(PathError::NotAbsolute)),
        ("auth", Err(PathError::NotAbsolute)),
        ("/caf\u{e9}", Ok("/caf\u{e9}")),
    ];
    for (raw, want) in cases {
        let got = normalize_path(raw);
        assert_eq!(
            got.as_deref().map_err(Clone::clone),
            *want,
            "normalize_path({raw:?})"
        );
    }
}

#[test]
fn normalize_path_refuses_overlong_paths() {
    let long = format!("/{}", "a".repeat(MAX_PATH_LEN));
    assert_eq!(normalize_path(&long), Err(PathError::TooLong));
}

#[test]
fn normalize_path_is_idempotent() {
    for raw in ["/a/../b/./c//d/", "/%61%3F%2e/x", "/x/%7e", "/a;b/./c"] {
        let once = normalize_path(raw).expect("valid");
        assert_eq!(normalize_path(&once).as_deref(), Ok(once.as_str()), "{raw}");
    }
}

#[test]
fn normalize_path_never_panics_on_random_input() {
    // Fixed-seed xorshift: reproducible "property" test without extra dependencies.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let alphabet = b"/.%2eEfF0aZ~-_ \x00\x7f?#";
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 24) as usize;
        let s: String = (0..len)
            .map(|i| alphabet[((state >> (i % 8 * 8)) as usize + i) % alphabet.len()] as char)
            .collect();
        if let Ok(p) = normalize_path(&s) {
            assert!(p.starts_with('/'), "{s:?} -> {p:?}");
            assert!(!p.contains("//"), "{s:?} -> {p:?}");
            assert!(
                !p.split('/').any(|seg| seg == ".." || seg == "."),
                "{s:?} -> {p:?}"
            );
        }
    }
}

#[test]
fn the_fast_path_for_normal_paths_agrees_with_full_normalization() {
    // Same generator as above, plus hand-picked edge cases around the fast path's conditions.
    let mut inputs: Vec<String> = [
        "/", "//", "/a", "/a/", "/a//", "/a/.", "/a/..", "/./a", "/a/b/", "/%61", "/a b", "/é/ü/",
        "/.hidden", "/a..b", "/...", "/a/.../b",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let alphabet = b"/./a.b//";
    for _ in 0..5_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = 1 + (state % 12) as usize;
        let rest: String = (0..len)
            .map(|i| alphabet[((state >> (i % 8 * 8)) as usize + i) % alphabet.len()] as char)
            .collect();
        inputs.push(format!("/{rest}"));
    }
    for raw in &inputs {
        assert_eq!(normalize_path(raw), normalize_slow(raw), "{raw:?}");
    }
}

#[test]
fn prefixes_match_whole_segments_only() {
    let cases = [
        ("/auth", "/auth", true),
        ("/auth", "/auth/", true),
        ("/auth", "/auth/x", true),
        ("/auth", "/authx", false),
        ("/auth", "/aut", false),
        ("/auth", "/auth%2Fx", false),
        ("/auth/", "/auth/x", true),
        ("/auth/", "/auth/", true),
        ("/auth/", "/auth", false),
        ("/", "/anything", true),
        ("", "/anything", true),
    ];
    for (prefix, path, want) in cases {
        assert_eq!(prefix_matches(prefix, path), want, "{prefix} vs {path}");
    }
}

#[test]
fn find_prefers_exact_host_then_wildcard_then_no_host() {
    let table = RouteTable::new(&[
        route("any", &[], &["/"], &[]),
        route("wild", &["*.example.com"], &["/"], &[]),
        route("exact", &["api.example.com"], &["/"], &[]),
        route("deep-wild", &["*.eu.example.com"], &["/"], &[]),
    ]);
    let cases = [
        (Some("api.example.com"), "exact"),
        (Some("API.Example.COM:8443"), "exact"),
        (Some("api.example.com."), "exact"),
        (Some("other.example.com"), "wild"),
        (Some("a.b.example.com"), "wild"),
        (Some("x.eu.example.com"), "deep-wild"),
        (Some("example.com"), "any"),
        (Some("evil-example.com"), "any"),
        (None, "any"),
        (Some("[::1]:8000"), "any"),
    ];
    for (host, want) in cases {
        let got = table.find(host, "GET", "/x").map(|m| m.route.id.as_str());
        assert_eq!(got, Some(want), "host {host:?}");
    }
}

#[test]
fn a_single_label_wildcard_takes_one_label_and_leaves_deeper_hosts_to_others() {
    let one_label = |mut r: Route| {
        r.single_label_wildcard = true;
        r
    };
    let routes = [
        route("any", &[], &["/"], &[]),
        one_label(route("ingress", &["*.foo.com"], &["/"], &[])),
        route("gateway", &["*.bar.com"], &["/"], &[]),
        // A deeper (longer) wildcard still wins where it matches.
        one_label(route("ingress-deep", &["*.eu.foo.com"], &["/"], &[])),
        // Two routes on one wildcard: the one-label route answers one label, the other the
        // rest.
        one_label(route("a-one", &["*.both.com"], &["/"], &[])),
        route("b-many", &["*.both.com"], &["/"], &[]),
    ];
    let cases = [
        ("bar.foo.com", "ingress"),
        ("BAR.Foo.com:8000", "ingress"),
        ("baz.bar.foo.com", "any"),
        ("foo.com", "any"),
        ("x.eu.foo.com", "ingress-deep"),
        ("y.x.eu.foo.com", "any"),
        ("a.bar.com", "gateway"),
        ("a.b.bar.com", "gateway"),
        ("x.both.com", "a-one"),
        ("y.x.both.com", "b-many"),
    ];
    let table = RouteTable::new(&routes);
    let mut many: Vec<Route> = routes.to_vec();
    for i in 0..200 {
        many.push(route(&format!("r{i:03}"), &[], &[&format!("/r{i}")], &[]));
    }
    let index = RouteIndex::new(&many);
    assert!(index.catch_all.is_some(), "partitioned");
    for (host, want) in cases {
        let got = table
            .find(Some(host), "GET", "/x")
            .map(|m| m.route.id.as_str());
        assert_eq!(got, Some(want), "table, host {host}");
        let got = index
            .find(Some(host), "GET", "/x")
            .map(|m| m.route.id.as_str());
        assert_eq!(got, Some(want), "index, host {host}");
    }
}

#[test]
fn find_prefers_longest_prefix_then_methods_then_id() {
    let table = RouteTable::new(&[
        route("root", &[], &["/"], &[]),
        route("auth", &[], &["/auth"], &[]),
        route("auth-post", &[], &["/auth"], &["POST"]),
        route("b-auth-deep", &[], &["/auth/deep"], &[]),
        route("a-auth-deep", &[], &["/auth/deep"], &[]),
        route("nopath-get", &[], &[], &["GET"]),
    ]);
    let cases = [
        ("GET", "/auth", "auth"),
        ("POST", "/auth/x", "auth-post"),
        ("GET", "/auth/deep/x", "a-auth-deep"),
        ("GET", "/authx", "root"),
        ("DELETE", "/other", "root"),
    ];
    for (method, path, want) in cases {
        let got = table.find(None, method, path).map(|m| m.route.id.as_str());
        assert_eq!(got, Some(want), "{method} {path}");
    }
}

#[test]
fn find_reports_the_matched_prefix_and_index() {
    let table = RouteTable::new(&[route("a", &[], &["/x", "/auth"], &[])]);
    let m = table
        .find(None, "GET", "/auth/oauth2/token")
        .expect("match");
    assert_eq!((m.index, m.matched_prefix), (0, "/auth"));
    let none = RouteTable::new(&[route("a", &["h.example"], &["/auth"], &["POST"])]);
    assert_eq!(none.find(None, "POST", "/auth"), None);
    assert_eq!(none.find(Some("h.example"), "GET", "/auth"), None);
    assert_eq!(none.find(Some("h.example"), "POST", "/nope"), None);
}

#[test]
fn upstream_path_follows_kong_strip_path() {
    // (strip, backend path, matched prefix, request path, expected)
    let cases = [
        (true, "", "/auth", "/auth", "/"),
        (true, "", "/auth", "/auth/", "/"),
        (true, "", "/auth", "/auth/x", "/x"),
        (true, "", "/auth/", "/auth/x", "/x"),
        (true, "/s", "/auth", "/auth", "/s"),
        (true, "/s", "/auth", "/auth/x", "/s/x"),
        (true, "/s/", "/auth", "/auth/x", "/s/x"),
        (true, "/s/", "/auth", "/auth", "/s/"),
        (true, "/s", "/auth/", "/auth/x", "/s/x"),
        (true, "/s", "/auth", "/auth/", "/s/"),
        (false, "", "/auth", "/auth/x", "/auth/x"),
        (false, "/s", "/auth", "/auth/x", "/s/auth/x"),
        (false, "/s/", "/auth", "/auth", "/s/auth"),
        (true, "", "", "/x", "/x"),
        (true, "/", "/", "/", "/"),
    ];
    for (strip, backend, prefix, path, want) in cases {
        let mut r = route("r", &[], &[prefix], &[]);
        r.strip_path = strip;
        assert_eq!(
            upstream_path(&r, backend, prefix, path),
            want,
            "{strip} {backend:?} {prefix} {path}"
        );
    }
}

// ---- RouteIndex (moved from the proxy) ----

fn index_routes() -> Vec<Route> {
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
    let routes = index_routes();
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

#[test]
fn a_path_parameter_ends_a_segment_and_head_is_served_by_get_routes() {
    assert!(prefix_matches("/api", "/api;x/admin"));
    assert!(prefix_matches("/api", "/api;x"));
    assert!(!prefix_matches("/api", "/apix;x"));
    let routes = vec![
        route("get-only", &[], &["/api"], &["GET"]),
        route("catch-all", &[], &["/"], &[]),
    ];
    let table = RouteTable::new(&routes);
    let found =
        |method: &str, path: &str| table.find(None, method, path).map(|m| m.route.id.clone());
    assert_eq!(found("HEAD", "/api/x").as_deref(), Some("get-only"));
    assert_eq!(
        found("GET", "/api;jsessionid=1/x").as_deref(),
        Some("get-only")
    );
    assert_eq!(found("POST", "/api/x").as_deref(), Some("catch-all"));
    assert_eq!(first_segment("/api;x/y"), Some("api"));
}

// ---- Gateway API matching (the conformance suite's HTTPRoute cases, in the core's terms) ----

use crate::snapshot::{HeaderMatch, MatchKind, PathModifier, QueryParamMatch};
use http::{HeaderMap, HeaderName, HeaderValue};

/// One match of an HTTPRoute rule as the translator writes it: `backend` names the backend
/// through the route id's last part, `rank` keeps rule order.
fn rule(backend: &str, rank: u64) -> Route {
    Route {
        id: format!("httproute/ns/r/{rank}/{backend}"),
        rank,
        strip_path: false,
        ..Route::default()
    }
}

fn exact(mut r: Route, path: &str) -> Route {
    r.exact_paths = vec![path.into()];
    r
}

fn prefix(mut r: Route, path: &str) -> Route {
    r.paths = vec![path.into()];
    r
}

fn header(mut r: Route, name: &str, value: &str, kind: MatchKind) -> Route {
    r.headers.push(HeaderMatch {
        name: name.into(),
        value: value.into(),
        kind,
    });
    r
}

fn query(mut r: Route, name: &str, value: &str, kind: MatchKind) -> Route {
    r.query_params.push(QueryParamMatch {
        name: name.into(),
        value: value.into(),
        kind,
    });
    r
}

fn method(mut r: Route, m: &str) -> Route {
    r.methods = vec![m.into()];
    r
}

/// The backend (last id part) the table picks, through the plain table and through a
/// partitioned index padded with unrelated routes (so both lookups answer alike).
fn backend_of(
    routes: &[Route],
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    query_string: Option<&str>,
) -> Option<String> {
    let mut map = HeaderMap::new();
    for (n, v) in headers {
        map.append(
            HeaderName::from_bytes(n.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    let request = RouteRequest {
        host: Some("example.com"),
        method,
        path,
        query: query_string,
        headers: Some(&map),
        listener: None,
    };
    let table = RouteTable::new(routes);
    let answer = table
        .find_request(&request)
        .map(|m| m.route.id.rsplit('/').next().unwrap_or_default().to_owned());
    let mut padded = routes.to_vec();
    padded.extend((0..200).map(|i| route(&format!("pad/{i}"), &[], &[&format!("/pad{i}")], &[])));
    let index = RouteIndex::new(&padded);
    assert!(index.catch_all.is_some(), "the padded index partitions");
    let indexed = index
        .find_request(&request)
        .map(|m| m.route.id.rsplit('/').next().unwrap_or_default().to_owned());
    assert_eq!(
        answer, indexed,
        "{method} {path} {headers:?} {query_string:?}"
    );
    answer
}

#[test]
fn exact_paths_rank_above_every_prefix_and_prefixes_by_length() {
    // The path-match-order case: exact matches, then the longest prefix.
    let routes = vec![
        exact(rule("v1", 0), "/match"),
        exact(rule("v2", 1), "/match/exact"),
        exact(rule("v3", 2), "/match/exact/one"),
        prefix(rule("v3", 3), "/match"),
        prefix(rule("v1", 4), "/match/prefix"),
        prefix(rule("v2", 5), "/match/prefix/one"),
    ];
    let cases = [
        ("/match/exact/one", Some("v3")),
        ("/match/exact", Some("v2")),
        ("/match", Some("v1")),
        ("/match/prefix/one/any", Some("v2")),
        ("/match/prefix/any", Some("v1")),
        ("/match/any", Some("v3")),
        ("/match/exact/one/more", Some("v3")),
        ("/matchless", None),
    ];
    for (path, want) in cases {
        assert_eq!(
            backend_of(&routes, "GET", path, &[], None).as_deref(),
            want,
            "{path}"
        );
    }
    // An exact match ranks above a longer prefix too, and does not match a trailing `/`.
    let routes = vec![
        prefix(rule("long", 0), "/a/b/c"),
        exact(rule("x", 1), "/a/b/c/d"),
    ];
    assert_eq!(
        backend_of(&routes, "GET", "/a/b/c/d", &[], None).as_deref(),
        Some("x")
    );
    assert_eq!(
        backend_of(&routes, "GET", "/a/b/c/d/", &[], None).as_deref(),
        Some("long")
    );
    // An exact `/` matches only the root.
    let routes = vec![exact(rule("root", 0), "/"), prefix(rule("rest", 1), "/")];
    assert_eq!(
        backend_of(&routes, "GET", "/", &[], None).as_deref(),
        Some("root")
    );
    assert_eq!(
        backend_of(&routes, "GET", "/x", &[], None).as_deref(),
        Some("rest")
    );
}

#[test]
fn header_matches_all_hold_and_the_route_with_more_wins() {
    use MatchKind::Exact;
    // The header-matching case: one rule per match, in rule order.
    let routes = vec![
        header(prefix(rule("v1", 0), "/"), "version", "one", Exact),
        header(prefix(rule("v2", 1), "/"), "version", "two", Exact),
        header(
            header(prefix(rule("v1", 2), "/"), "version", "two", Exact),
            "color",
            "orange",
            Exact,
        ),
        header(prefix(rule("v1", 3), "/"), "color", "blue", Exact),
        header(prefix(rule("v1", 4), "/"), "color", "green", Exact),
        header(prefix(rule("v2", 5), "/"), "color", "red", Exact),
        header(prefix(rule("v2", 6), "/"), "color", "yellow", Exact),
    ];
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>);
    let cases: &[Case<'_>] = &[
        (&[("Version", "one")], Some("v1")),
        (&[("Version", "two")], Some("v2")),
        (&[("Version", "two"), ("Color", "orange")], Some("v1")),
        (&[("Version", "two"), ("Color", "blue")], Some("v2")),
        (&[("Color", "orange")], None),
        (&[("Some-Other-Header", "one")], None),
        (&[("Color", "blue")], Some("v1")),
        (&[("Color", "green")], Some("v1")),
        (&[("Color", "red")], Some("v2")),
        (&[("Color", "yellow")], Some("v2")),
        (&[("Color", "purple")], None),
        // Values are compared exactly: case matters.
        (&[("Version", "ONE")], None),
        // Names are not case-sensitive.
        (&[("VERSION", "one")], Some("v1")),
        // A header sent twice is matched on its values joined.
        (&[("Version", "one"), ("Version", "two")], None),
    ];
    for (headers, want) in cases {
        assert_eq!(
            backend_of(&routes, "GET", "/", headers, None).as_deref(),
            *want,
            "{headers:?}"
        );
    }
}

#[test]
fn regular_expression_matches_are_anchored() {
    use MatchKind::RegularExpression as Re;
    let routes = vec![
        header(prefix(rule("v1", 0), "/"), "version", "^v[0-9]+$", Re),
        header(prefix(rule("v2", 1), "/"), "color", "re+d|blue", Re),
        query(prefix(rule("v3", 2), "/"), "id", "[0-9]{3}", Re),
    ];
    assert_eq!(
        backend_of(&routes, "GET", "/", &[("version", "v12")], None).as_deref(),
        Some("v1")
    );
    assert_eq!(
        backend_of(&routes, "GET", "/", &[("version", "v1x")], None),
        None
    );
    assert_eq!(
        backend_of(&routes, "GET", "/", &[("color", "reeed")], None).as_deref(),
        Some("v2")
    );
    assert_eq!(
        backend_of(&routes, "GET", "/", &[("color", "bluegreen")], None),
        None
    );
    assert_eq!(
        backend_of(&routes, "GET", "/", &[], Some("id=123")).as_deref(),
        Some("v3")
    );
    assert_eq!(backend_of(&routes, "GET", "/", &[], Some("id=1234")), None);
    // A pattern that does not compile never matches (validation refuses it anyway).
    let broken = vec![header(prefix(rule("x", 0), "/"), "a", "(", Re)];
    assert_eq!(backend_of(&broken, "GET", "/", &[("a", "(")], None), None);
}

#[test]
fn query_parameter_matches_are_case_sensitive_and_take_the_first_occurrence() {
    use MatchKind::Exact;
    // The query-param-matching case.
    let routes = vec![
        query(prefix(rule("v1", 0), "/"), "animal", "whale", Exact),
        query(prefix(rule("v2", 1), "/"), "animal", "dolphin", Exact),
        query(
            query(prefix(rule("v3", 2), "/"), "animal", "dolphin", Exact),
            "color",
            "blue",
            Exact,
        ),
        query(prefix(rule("v3", 3), "/"), "ANIMAL", "Whale", Exact),
    ];
    let cases = [
        ("animal=whale", Some("v1")),
        ("animal=dolphin", Some("v2")),
        ("animal=dolphin&color=blue", Some("v3")),
        ("color=blue&animal=dolphin", Some("v3")),
        ("ANIMAL=Whale", Some("v3")),
        ("animal=Whale", None),
        ("animal=whale&animal=dolphin", Some("v1")),
        ("animal=wh%61le", Some("v1")),
        ("color=blue", None),
        ("", None),
    ];
    for (q, want) in cases {
        assert_eq!(
            backend_of(&routes, "GET", "/", &[], Some(q)).as_deref(),
            want,
            "{q}"
        );
    }
    assert_eq!(backend_of(&routes, "GET", "/", &[], None), None);
}

#[test]
fn method_matches_rank_between_paths_and_headers() {
    use MatchKind::Exact;
    // The method-matching case, and the precedence order: path, then method, then headers,
    // then query parameters, then rank.
    let routes = vec![
        method(prefix(rule("v1", 0), "/"), "POST"),
        method(prefix(rule("v2", 1), "/"), "GET"),
        header(prefix(rule("v3", 2), "/"), "version", "one", Exact),
        query(prefix(rule("v4", 3), "/"), "q", "1", Exact),
        prefix(rule("v5", 4), "/"),
    ];
    assert_eq!(
        backend_of(&routes, "POST", "/", &[], None).as_deref(),
        Some("v1")
    );
    assert_eq!(
        backend_of(&routes, "GET", "/", &[("version", "one")], Some("q=1")).as_deref(),
        Some("v2")
    );
    assert_eq!(
        backend_of(&routes, "HEAD", "/", &[], None).as_deref(),
        Some("v2")
    );
    assert_eq!(
        backend_of(&routes, "PUT", "/", &[("version", "one")], Some("q=1")).as_deref(),
        Some("v3")
    );
    assert_eq!(
        backend_of(&routes, "PUT", "/", &[], Some("q=1")).as_deref(),
        Some("v4")
    );
    assert_eq!(
        backend_of(&routes, "DELETE", "/", &[], None).as_deref(),
        Some("v5")
    );
    // A longer prefix beats a method match; a method match beats more headers.
    let routes = vec![
        method(prefix(rule("m", 0), "/"), "GET"),
        prefix(rule("long", 1), "/api"),
        header(
            header(prefix(rule("h", 2), "/"), "a", "1", Exact),
            "b",
            "2",
            Exact,
        ),
    ];
    assert_eq!(
        backend_of(&routes, "GET", "/api/x", &[("a", "1"), ("b", "2")], None).as_deref(),
        Some("long")
    );
    assert_eq!(
        backend_of(&routes, "GET", "/x", &[("a", "1"), ("b", "2")], None).as_deref(),
        Some("m")
    );
    assert_eq!(
        backend_of(&routes, "POST", "/x", &[("a", "1"), ("b", "2")], None).as_deref(),
        Some("h")
    );
}

#[test]
fn rank_breaks_ties_before_the_route_id() {
    // The translator ranks the older HTTPRoute first whatever the names.
    let routes = vec![prefix(rule("newer", 2), "/"), prefix(rule("older", 1), "/")];
    let mut older_named_later = routes.clone();
    older_named_later[1].id = "httproute/zz/zz/0/older".into();
    assert_eq!(
        backend_of(&routes, "GET", "/", &[], None).as_deref(),
        Some("older")
    );
    assert_eq!(
        backend_of(&older_named_later, "GET", "/", &[], None).as_deref(),
        Some("older")
    );
}

#[test]
fn header_and_query_conditions_are_checked_only_after_host_and_path() {
    use MatchKind::Exact;
    // A wildcard host and a host-less route, each with conditions.
    let mut routes = vec![
        header(prefix(rule("wild", 0), "/"), "x", "1", Exact),
        header(prefix(rule("any", 1), "/"), "x", "2", Exact),
    ];
    routes[0].hosts = vec!["*.example.com".into()];
    let mut map = HeaderMap::new();
    map.insert("x", HeaderValue::from_static("2"));
    let table = RouteTable::new(&routes);
    let found = |host: &str, map: &HeaderMap| {
        table
            .find_request(&RouteRequest {
                host: Some(host),
                method: "GET",
                path: "/",
                query: None,
                headers: Some(map),
                listener: None,
            })
            .map(|m| m.index)
    };
    // The wildcard route's condition fails: the host-less route answers.
    assert_eq!(found("a.example.com", &map), Some(1));
    map.insert("x", HeaderValue::from_static("1"));
    assert_eq!(found("a.b.example.com", &map), Some(0));
    assert_eq!(found("example.com", &map), None);
}

#[test]
fn prefix_replacement_follows_the_gateway_api_table() {
    let replace = |with: &str| PathModifier::ReplacePrefixMatch(with.into());
    let cases = [
        ("/foo", "/foo/bar", "/xyz", "/xyz/bar"),
        ("/foo", "/foo/bar", "/xyz/", "/xyz/bar"),
        ("/foo/", "/foo/bar", "/xyz", "/xyz/bar"),
        ("/foo/", "/foo/bar", "/xyz/", "/xyz/bar"),
        ("/foo", "/foo", "/xyz", "/xyz"),
        ("/foo", "/foo/", "/xyz", "/xyz/"),
        ("/foo", "/foo/", "/xyz/", "/xyz/"),
        ("/foo", "/foo/bar", "/", "/bar"),
        ("/foo", "/foo", "/", "/"),
        ("/", "/foo", "/xyz", "/xyz/foo"),
        ("/", "/", "/xyz", "/xyz/"),
        ("/strip-prefix", "/strip-prefix/three", "/", "/three"),
        ("/prefix/one", "/prefix/one/two", "/one", "/one/two"),
    ];
    for (matched, path, with, want) in cases {
        assert_eq!(
            modified_path(&replace(with), matched, path),
            want,
            "{matched} {path} {with}"
        );
    }
    let full = PathModifier::ReplaceFullPath("/one".into());
    assert_eq!(modified_path(&full, "/full", "/full/one/two"), "/one");
}

#[test]
fn redirect_locations_keep_what_the_filter_does_not_change() {
    let from = |scheme, host, path, matched, query| RedirectFrom {
        scheme,
        host,
        path,
        matched_prefix: matched,
        query,
    };
    let plain = from("http", Some("example.com"), "/a/b", "/a", None);
    let with_port = from("http", Some("example.com:8000"), "/a/b", "/a", Some("x=1"));
    let v6 = from("https", Some("[::1]:8443"), "/", "/", None);
    let prefix = PathModifier::ReplacePrefixMatch("/c".into());
    let full = PathModifier::ReplaceFullPath("/d".into());
    let cases = [
        // scheme only: the scheme's well-known port, left out.
        (
            Some("https"),
            None,
            None,
            None,
            &with_port,
            "https://example.com/a/b?x=1",
        ),
        // host only: the client's port is kept.
        (
            None,
            Some("example.org"),
            None,
            None,
            &with_port,
            "http://example.org:8000/a/b?x=1",
        ),
        (
            None,
            Some("example.org"),
            None,
            None,
            &plain,
            "http://example.org/a/b",
        ),
        // a port: written unless it is the scheme's default.
        (
            None,
            None,
            Some(8080),
            None,
            &plain,
            "http://example.com:8080/a/b",
        ),
        (
            None,
            None,
            Some(80),
            None,
            &with_port,
            "http://example.com/a/b?x=1",
        ),
        (
            Some("https"),
            None,
            Some(443),
            None,
            &plain,
            "https://example.com/a/b",
        ),
        (
            Some("https"),
            None,
            Some(8443),
            None,
            &plain,
            "https://example.com:8443/a/b",
        ),
        // paths.
        (
            None,
            None,
            None,
            Some(&prefix),
            &plain,
            "http://example.com/c/b",
        ),
        (
            None,
            None,
            None,
            Some(&full),
            &with_port,
            "http://example.com:8000/d?x=1",
        ),
        // IPv6 literal hosts keep their brackets.
        (None, None, None, None, &v6, "https://[::1]:8443/"),
        (Some("http"), None, None, None, &v6, "http://[::1]/"),
    ];
    for (scheme, host, port, path, from, want) in cases {
        assert_eq!(
            redirect_location(scheme, host, port, path, from),
            want,
            "{scheme:?} {host:?} {port:?}"
        );
    }
}

#[test]
fn weighted_picks_follow_the_weights_closely_and_interleave() {
    let weights = [70u32, 20, 10, 0];
    let mut counts = [0usize; 4];
    for n in 0..1000 {
        counts[weighted_pick(weights.iter().copied(), n).expect("a backend")] += 1;
    }
    assert_eq!(counts[3], 0, "a weight of 0 is never chosen");
    for (count, weight) in counts.iter().zip(weights) {
        let want = weight as usize * 10;
        assert!(count.abs_diff(want) <= 5, "{counts:?}");
    }
    // Equal weights alternate rather than run in blocks.
    let picks: Vec<usize> = (0..100)
        .map(|n| weighted_pick([1u32, 1].into_iter(), n).expect("pick"))
        .collect();
    let longest_run = picks
        .chunk_by(|a, b| a == b)
        .map(<[usize]>::len)
        .max()
        .unwrap_or(0);
    assert!(longest_run <= 3, "{picks:?}");
    // Large weights work as well as small ones.
    let big = [999_999u32, 1_000_000];
    let first = (0..10_000)
        .filter(|n| weighted_pick(big.iter().copied(), *n) == Some(0))
        .count();
    assert!(first.abs_diff(5000) <= 10, "{first}");
    assert_eq!(weighted_pick([0u32, 0].into_iter(), 1), None);
    assert_eq!(weighted_pick(std::iter::empty(), 1), None);
}

#[test]
fn a_large_table_finds_conditioned_routes_without_scanning_other_paths() {
    use MatchKind::Exact;
    // 20,000 routes of one host, each with a header condition, under distinct first segments:
    // every lookup resolves through the partition of its own segment.
    let routes: Vec<Route> = (0..20_000)
        .map(|i| {
            let mut r = header(
                prefix(rule(&format!("b{i}"), i), &format!("/s{i}")),
                "v",
                "1",
                Exact,
            );
            r.hosts = vec!["example.com".into()];
            if i % 2 == 0 {
                r.exact_paths = vec![format!("/e{i}/login")];
            }
            r
        })
        .collect();
    let index = RouteIndex::from_routes(routes);
    let mut map = HeaderMap::new();
    map.insert("v", HeaderValue::from_static("1"));
    for i in [0u64, 1, 4_321, 19_998, 19_999] {
        let path = format!("/s{i}/x");
        let request = RouteRequest {
            host: Some("example.com"),
            method: "GET",
            path: &path,
            query: None,
            headers: Some(&map),
            listener: None,
        };
        assert_eq!(index.find_request(&request).map(|m| m.route.rank), Some(i));
        let path = format!("/e{i}/login");
        let request = RouteRequest {
            path: &path,
            ..request
        };
        let want = (i % 2 == 0).then_some(i);
        assert_eq!(index.find_request(&request).map(|m| m.route.rank), want);
        assert_eq!(
            index
                .find_request(&RouteRequest {
                    headers: None,
                    listener: None,
                    ..request
                })
                .map(|m| m.index),
            None
        );
    }
    let partition = index.partitions.get("s42").expect("a partition");
    assert_eq!(
        partition.exact.get("example.com").map(|c| c.prefix.len()),
        Some(1)
    );
}

#[test]
fn a_route_bound_to_one_listener_port_is_absent_on_the_other() {
    use crate::snapshot::ListenerPort::{Http, Https};
    let mut http_only = route("r/http-only", &["example.com"], &["/app"], &[]);
    http_only.listener = Some(Http);
    let mut https_only = route("r/https-only", &["example.com"], &["/app/secure"], &[]);
    https_only.listener = Some(Https);
    let both = route("r/both", &[], &["/"], &[]);
    let routes = vec![http_only, https_only, both];
    let mut padded = routes.clone();
    padded.extend((0..200).map(|i| route(&format!("pad/{i}"), &[], &[&format!("/pad{i}")], &[])));
    let cases = [
        (Some(Http), "/app/x", "r/http-only"),
        (Some(Https), "/app/x", "r/both"),
        (Some(Https), "/app/secure/x", "r/https-only"),
        (Some(Http), "/app/secure/x", "r/http-only"),
        (Some(Http), "/other", "r/both"),
        (Some(Https), "/other", "r/both"),
        (None, "/app/x", "r/http-only"),
        (None, "/app/secure/x", "r/https-only"),
    ];
    let table = RouteTable::new(&routes);
    let index = RouteIndex::new(&padded);
    assert!(index.catch_all.is_some(), "the padded index partitions");
    for (listener, path, want) in cases {
        let request = RouteRequest {
            host: Some("example.com"),
            method: "GET",
            path,
            query: None,
            headers: None,
            listener,
        };
        for (what, found) in [
            ("table", table.find_request(&request)),
            ("index", index.find_request(&request)),
        ] {
            assert_eq!(
                found.map(|m| m.route.id.as_str()),
                Some(want),
                "{what}: {listener:?} {path}"
            );
        }
    }
}
