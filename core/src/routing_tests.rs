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
