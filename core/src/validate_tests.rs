use super::*;
use crate::fixtures;
use crate::snapshot::{BearerTokenParamType, MatchKind, PathModifier, SigningKey};

#[test]
fn the_quickstart_snapshot_is_valid() {
    assert_eq!(validate(&fixtures::snapshot()), Ok(()));
}

#[test]
fn a_route_takes_an_authentication_plugin_and_a_rate_limit_in_either_order() {
    let mut s = fixtures::snapshot();
    s.plugins
        .push(fixtures::rate_limit("default/limit", Some(5)));
    s.routes[1].plugins = vec!["default/limit".into(), "default/oidc".into()];
    assert_eq!(validate(&s), Ok(()));
    s.routes[1].plugins.reverse();
    assert_eq!(validate(&s), Ok(()));
    s.routes[1].plugins = vec!["default/limit".into()];
    assert_eq!(
        validate(&s),
        Ok(()),
        "a rate limit alone is a route's plugin too"
    );
}

#[test]
fn unsorted_lists_are_accepted() {
    let mut s = fixtures::snapshot();
    s.routes.reverse();
    s.plugins.reverse();
    s.credentials.reverse();
    assert_eq!(validate(&s), Ok(()));
}

type Mutation = fn(&mut Snapshot);

#[test]
fn every_problem_is_reported_naming_its_object() {
    let cases: &[(&str, Mutation, &str)] = &[
        (
            "format",
            |s| s.format = 2,
            "snapshot: format 2 is not supported",
        ),
        (
            "active key",
            |s| s.active_key = "nope".into(),
            "active signing key \"nope\"",
        ),
        (
            "short key",
            |s| s.signing_keys[0].secret_b64 = "AAAA".into(),
            "signing key \"k2026-01-01\": material",
        ),
        (
            "bad key id",
            |s| {
                s.signing_keys.push(SigningKey {
                    id: "a b".into(),
                    secret_b64: s.signing_keys[0].secret_b64.clone(),
                })
            },
            "signing key \"a b\": id",
        ),
        (
            "dup key",
            |s| s.signing_keys.push(s.signing_keys[0].clone()),
            "listed more than once",
        ),
        (
            "dup consumer",
            |s| s.consumers.push(s.consumers[0].clone()),
            "consumer default/jane: id",
        ),
        (
            "username header",
            |s| s.consumers[0].username = "ja\nne".into(),
            "consumer default/jane: username",
        ),
        (
            "dup credential",
            |s| {
                let mut c = s.credentials[0].clone();
                c.client_id = "other".into();
                s.credentials.push(c)
            },
            "credential default/demo: id",
        ),
        (
            "credential uuid",
            |s| s.credentials[0].id = "demo".into(),
            "credential default/demo: id \"demo\" is not a UUID",
        ),
        (
            "dangling consumer",
            |s| s.credentials[0].consumer_id = "ghost".into(),
            "credential default/demo: consumer \"ghost\" does not exist",
        ),
        (
            "dup client id",
            |s| s.credentials[1].client_id = "client".into(),
            "credential default/pub: clientId \"client\" is also used by credential default/demo",
        ),
        (
            "bad verifier",
            |s| s.credentials[0].secret_verifier = Some("secret".into()),
            "credential default/demo: secret verifier is invalid",
        ),
        (
            "no verifier",
            |s| s.credentials[0].secret_verifier = None,
            "credential default/demo: a confidential client needs a secret verifier",
        ),
        (
            "bad previous verifier",
            |s| {
                s.credentials[0]
                    .previous_secrets
                    .push(crate::snapshot::PreviousSecret {
                        verifier: "old".into(),
                        valid_until: 1,
                    })
            },
            "credential default/demo: a previous secret's verifier is invalid",
        ),
        (
            "too many previous secrets",
            |s| {
                let previous = crate::snapshot::PreviousSecret {
                    verifier: s.credentials[0].secret_verifier.clone().unwrap_or_default(),
                    valid_until: 1,
                };
                s.credentials[0].previous_secrets = vec![previous; 4];
            },
            "credential default/demo: 4 previous secrets, more than 3",
        ),
        (
            "previous secret of a public client",
            |s| {
                let previous = crate::snapshot::PreviousSecret {
                    verifier: s.credentials[0].secret_verifier.clone().unwrap_or_default(),
                    valid_until: 1,
                };
                s.credentials[1].previous_secrets = vec![previous];
            },
            "credential default/pub: a public client has no previous secrets",
        ),
        (
            "dangling anonymous",
            |s| {
                if let PluginConfig::OAuth2(c) = &mut s.plugins[0].config {
                    c.anonymous = Some("ghost".into())
                }
            },
            "plugin default/auth: anonymous consumer \"ghost\"",
        ),
        (
            "oidc anonymous",
            |s| {
                if let PluginConfig::OpenIdConnect(c) = &mut s.plugins[1].config {
                    c.anonymous = Some("ghost".into())
                }
            },
            "plugin default/oidc: anonymous consumer",
        ),
        (
            "header name",
            |s| {
                if let PluginConfig::OAuth2(c) = &mut s.plugins[0].config {
                    c.auth_header_name = "Bad Header".into()
                }
            },
            "plugin default/auth: authHeaderName",
        ),
        (
            "mandatory scope",
            |s| {
                if let PluginConfig::OAuth2(c) = &mut s.plugins[0].config {
                    c.scopes.clear();
                    c.mandatory_scope = true
                }
            },
            "mandatoryScope needs at least one scope",
        ),
        (
            "scope token",
            |s| {
                if let PluginConfig::OAuth2(c) = &mut s.plugins[0].config {
                    c.scopes.push("a b".into())
                }
            },
            "scope \"a b\" is not a valid scope token",
        ),
        (
            "realm",
            |s| {
                if let PluginConfig::OAuth2(c) = &mut s.plugins[0].config {
                    c.realm = Some("a\"b".into())
                }
            },
            "plugin default/auth: realm",
        ),
        (
            "no param type",
            |s| {
                if let PluginConfig::OpenIdConnect(c) = &mut s.plugins[1].config {
                    c.bearer_token_param_type.clear()
                }
            },
            "bearerTokenParamType",
        ),
        (
            "dup plugin",
            |s| s.plugins.push(s.plugins[0].clone()),
            "plugin default/auth: id",
        ),
        (
            "dangling plugin",
            |s| s.routes[0].plugins = vec!["ghost".into()],
            "route default/auth: plugin \"ghost\" does not exist",
        ),
        (
            "two plugins",
            |s| s.routes[0].plugins.push("default/oidc".into()),
            "route default/auth: at most one authentication plugin",
        ),
        (
            "plugin twice",
            |s| s.routes[0].plugins.push("default/auth".into()),
            "route default/auth: plugin \"default/auth\" is listed twice",
        ),
        (
            "two rate limits",
            |s| {
                s.plugins.push(fixtures::rate_limit("default/rl1", Some(5)));
                s.plugins.push(fixtures::rate_limit("default/rl2", Some(5)));
                s.routes[1].plugins = vec!["default/rl1".into(), "default/rl2".into()];
            },
            "route default/upstream: at most one rate-limiting plugin per route (got 2)",
        ),
        (
            "rate limit without limits",
            |s| s.plugins.push(fixtures::rate_limit("default/rl", None)),
            "plugin default/rl: set at least one of second, minute or hour",
        ),
        (
            "rate limit order",
            |s| {
                let mut p = fixtures::rate_limit("default/rl", Some(10));
                if let PluginConfig::RateLimiting(c) = &mut p.config {
                    c.hour = Some(3);
                }
                s.plugins.push(p);
            },
            "plugin default/rl: the limit for hour(3) cannot be lower than the limit for minute(10)",
        ),
        (
            "rate limit acl",
            |s| {
                let mut p = fixtures::rate_limit("default/rl", Some(10));
                p.acl = Some(Default::default());
                s.plugins.push(p);
            },
            "plugin default/rl: acl applies to authentication plugins only",
        ),
        (
            "path syntax",
            |s| s.routes[0].paths = vec!["auth".into()],
            "route default/auth: path \"auth\" is invalid",
        ),
        (
            "path normal",
            |s| s.routes[0].paths = vec!["/a/../auth".into()],
            "is not normalized (use \"/auth\")",
        ),
        (
            "method",
            |s| s.routes[0].methods = vec!["get".into()],
            "route default/auth: method \"get\"",
        ),
        (
            "method token",
            |s| s.routes[0].methods = vec!["G(T".into()],
            "method \"G(T\"",
        ),
        (
            "host",
            |s| s.routes[0].hosts = vec!["bad_host".into()],
            "route default/auth: host \"bad_host\"",
        ),
        (
            "wildcard inside",
            |s| s.routes[0].hosts = vec!["a.*.com".into()],
            "host \"a.*.com\"",
        ),
        (
            "dup route",
            |s| s.routes.push(s.routes[0].clone()),
            "route default/auth: id",
        ),
        (
            "scheme",
            |s| {
                if let Some(b) = &mut s.routes[0].backend {
                    b.scheme = "ftp".into()
                }
            },
            "backend scheme \"ftp\"",
        ),
        (
            "endpoint",
            |s| {
                if let Some(b) = &mut s.routes[0].backend {
                    b.endpoints = vec!["nohost".into()]
                }
            },
            "backend endpoint \"nohost\"",
        ),
        (
            "endpoint port",
            |s| {
                if let Some(b) = &mut s.routes[0].backend {
                    b.endpoints = vec!["h:0".into()]
                }
            },
            "backend endpoint \"h:0\"",
        ),
        (
            "backend path",
            |s| {
                if let Some(b) = &mut s.routes[0].backend {
                    b.path = "s".into()
                }
            },
            "backend path \"s\" must be empty",
        ),
        (
            "timeouts",
            |s| {
                if let Some(b) = &mut s.routes[0].backend {
                    b.read_timeout_ms = 0
                }
            },
            "timeouts",
        ),
    ];
    for (name, mutate, want) in cases {
        let mut s = fixtures::snapshot();
        mutate(&mut s);
        let problems = validate(&s).expect_err(name);
        assert!(
            problems.iter().any(|p| p.contains(want)),
            "{name}: {problems:?} lacks {want:?}"
        );
    }
}

#[test]
fn several_problems_are_all_reported() {
    let mut s = fixtures::snapshot();
    s.format = 9;
    s.routes[0].plugins = vec!["ghost".into()];
    s.credentials[0].consumer_id = "ghost".into();
    assert_eq!(validate(&s).map_err(|p| p.len()), Err(3));
}

#[test]
fn empty_snapshot_without_plugins_needs_no_key() {
    let s = Snapshot {
        format: SNAPSHOT_FORMAT,
        ..Default::default()
    };
    assert_eq!(validate(&s), Ok(()));
}

#[test]
fn endpoints_and_hosts_accept_common_forms() {
    for ok in [
        "127.0.0.1:80",
        "[::1]:8080",
        "httpbin.default.svc:8000",
        "a-b.example:65535",
    ] {
        assert!(is_valid_endpoint(ok), "{ok}");
    }
    for bad in [
        "", ":80", "h:", "h:99999", "[::1]", "::1:80", "*.x:80", "h:8o",
    ] {
        assert!(!is_valid_endpoint(bad), "{bad}");
    }
    for ok in ["example.com", "*.example.com", "localhost", "a1.b-2.c"] {
        assert!(is_valid_host(ok), "{ok}");
    }
    for bad in [
        "", "*", "*.", "-a.com", "a..com", "a.com:80", "a b", "*.*.com",
    ] {
        assert!(!is_valid_host(bad), "{bad}");
    }
    // Any case is a valid host name (matching ignores case).
    for ok in ["API.Example.COM", "*.Example.com", "LOCALHOST"] {
        assert!(is_valid_host(ok), "{ok}");
    }
    // 253 characters at most, the `*.` of a wildcard included; 63 per label.
    let label = "a".repeat(63);
    let longest = [label.as_str(); 4].join(".")[..253].to_owned();
    assert!(is_valid_host(&longest));
    assert!(is_valid_host(&format!("*.{}", &longest[..251])));
    assert!(!is_valid_host(&format!("*.{}", &longest[..252])));
    assert!(!is_valid_host(&"a".repeat(64)));
    // Query-type plugins validate too.
    let mut s = fixtures::snapshot();
    if let PluginConfig::OpenIdConnect(c) = &mut s.plugins[1].config {
        c.bearer_token_param_type = vec![BearerTokenParamType::Query, BearerTokenParamType::Body];
    }
    assert_eq!(validate(&s), Ok(()));
}

#[test]
fn each_problem_names_the_object_it_is_about_by_its_index() {
    let mut s = fixtures::snapshot();
    let last = s.routes.len() - 1;
    if let Some(backend) = s.routes[last].backend.as_mut() {
        backend.endpoints = vec!["a!b:80".into()];
    }
    s.consumers[0].username = String::new();
    let problems = check(&s);
    let subjects: Vec<Subject> = problems.iter().map(|p| p.subject).collect();
    assert!(subjects.contains(&Subject::Route(last)), "{problems:?}");
    assert!(subjects.contains(&Subject::Consumer(0)), "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.subject == Subject::Route(last) && p.message.contains("\"a!b:80\"")),
        "{problems:?}"
    );
    let mut keyless = fixtures::snapshot();
    keyless.signing_keys.clear();
    assert!(
        check(&keyless)
            .iter()
            .all(|p| p.subject == Subject::Snapshot)
    );
    assert!(!check(&keyless).is_empty());
    assert_eq!(check(&fixtures::snapshot()), Vec::new());
}

/// A route using every part of the Gateway API model, valid.
fn gateway_route() -> Route {
    use crate::snapshot::{
        HeaderMatch, HeaderValue, QueryParamMatch, RouteFilter, WeightedBackend,
    };
    let backend = fixtures::route("x/y", "/", None).backend;
    Route {
        id: "httproute/shop/web/0/0".into(),
        hosts: vec!["shop.example.com".into()],
        paths: vec!["/api".into()],
        methods: vec!["GET".into()],
        headers: vec![
            HeaderMatch {
                name: "Version".into(),
                value: "two".into(),
                kind: MatchKind::Exact,
            },
            HeaderMatch {
                name: "x-color".into(),
                value: "re+d|blue".into(),
                kind: MatchKind::RegularExpression,
            },
        ],
        query_params: vec![QueryParamMatch {
            name: "animal".into(),
            value: "whale".into(),
            kind: MatchKind::Exact,
        }],
        filters: vec![
            RouteFilter::RequestHeaderModifier {
                set: vec![HeaderValue {
                    name: "X-Env".into(),
                    value: "prod".into(),
                }],
                add: vec![],
                remove: vec!["x-debug".into()],
            },
            RouteFilter::UrlRewrite {
                hostname: Some("internal.example.com".into()),
                path: Some(PathModifier::ReplacePrefixMatch("/v2".into())),
            },
            RouteFilter::ResponseHeaderModifier {
                set: vec![],
                add: vec![HeaderValue {
                    name: "X-Served-By".into(),
                    value: "tollgate".into(),
                }],
                remove: vec![],
            },
        ],
        backends: vec![
            WeightedBackend {
                weight: 3,
                backend: backend.clone(),
            },
            WeightedBackend {
                weight: 1,
                backend: None,
            },
        ],
        request_timeout_ms: Some(10_000),
        backend_request_timeout_ms: Some(2_000),
        rank: 7,
        ..Route::default()
    }
}

#[test]
fn a_gateway_api_route_is_valid_and_round_trips_through_json() {
    let mut s = fixtures::snapshot();
    s.routes.push(gateway_route());
    assert_eq!(validate(&s), Ok(()));
    let back: Snapshot = serde_json::from_slice(&s.to_json()).expect("parses");
    assert_eq!(back, s);
    let json = serde_json::to_value(gateway_route()).expect("serializes");
    assert_eq!(json["queryParams"][0]["name"], "animal");
    assert_eq!(json["headers"][1]["kind"], "RegularExpression");
    assert!(
        json["headers"][0].get("kind").is_none(),
        "Exact is the default"
    );
    assert_eq!(json["filters"][1]["type"], "UrlRewrite");
    assert_eq!(json["filters"][1]["path"]["type"], "ReplacePrefixMatch");
    assert_eq!(json["filters"][1]["path"]["value"], "/v2");
    assert_eq!(json["backendRequestTimeoutMs"], 2000);
}

#[test]
fn a_route_without_the_new_fields_serializes_as_before() {
    let route = fixtures::route("default/auth", "/auth", Some("default/oauth2"));
    let json = String::from_utf8(serde_json::to_vec(&route).expect("serializes")).expect("utf-8");
    assert_eq!(
        json,
        r#"{"id":"default/auth","hosts":[],"paths":["/auth"],"methods":[],"stripPath":true,"plugins":["default/oauth2"],"backend":{"scheme":"http","path":"","endpoints":["127.0.0.1:8080"],"connectTimeoutMs":1000,"readTimeoutMs":5000}}"#
    );
}

#[test]
fn preserve_host_and_single_label_wildcards_are_left_out_unless_set() {
    let s = fixtures::snapshot();
    let json = String::from_utf8(s.to_json()).expect("utf-8");
    assert!(!json.contains("preserveHost"), "{json}");
    assert!(!json.contains("singleLabelWildcard"), "{json}");
    let mut set = s.clone();
    set.routes[0].preserve_host = true;
    set.routes[0].single_label_wildcard = true;
    assert_ne!(set.content_hash(), s.content_hash());
    let json = String::from_utf8(set.to_json()).expect("utf-8");
    assert!(json.contains(r#""preserveHost":true"#), "{json}");
    assert!(json.contains(r#""singleLabelWildcard":true"#), "{json}");
    let back: Snapshot = serde_json::from_str(&json).expect("decode");
    assert_eq!(back, set);
    // A snapshot written before the fields existed reads as both false.
    let old: Snapshot = serde_json::from_slice(&s.to_json()).expect("decode");
    assert!(!old.routes[0].preserve_host && !old.routes[0].single_label_wildcard);
    assert_eq!(old.content_hash(), s.content_hash());
}

#[test]
fn every_gateway_api_route_problem_is_reported() {
    use crate::snapshot::{HeaderMatch, HeaderValue, QueryParamMatch, RouteFilter};
    let header = |name: &str| HeaderValue {
        name: name.into(),
        value: "v".into(),
    };
    let set_header = move |name: &str| RouteFilter::RequestHeaderModifier {
        set: vec![header(name)],
        add: vec![],
        remove: vec![],
    };
    type Case = (&'static str, Box<dyn Fn(&mut Route)>, &'static str);
    let cases: Vec<Case> = vec![
        (
            "exact path",
            Box::new(|r| r.exact_paths = vec!["/a/../b".into()]),
            "exact path \"/a/../b\" is not normalized",
        ),
        (
            "header name",
            Box::new(|r| r.headers[0].name = "bad name".into()),
            "header match name \"bad name\" is not a header name",
        ),
        (
            "regex",
            Box::new(|r| r.headers[1].value = "(".into()),
            "regular expression is invalid",
        ),
        (
            "huge regex",
            Box::new(|r| r.headers[1].value = "a{1000}{1000}".into()),
            "regular expression is invalid",
        ),
        (
            "too many headers",
            Box::new(|r| {
                r.headers = (0..17)
                    .map(|i| HeaderMatch {
                        name: format!("h{i}"),
                        value: "v".into(),
                        kind: MatchKind::Exact,
                    })
                    .collect()
            }),
            "at most 16 header matches (got 17)",
        ),
        (
            "too many query matches",
            Box::new(|r| {
                r.query_params = (0..17)
                    .map(|i| QueryParamMatch {
                        name: format!("q{i}"),
                        value: "v".into(),
                        kind: MatchKind::Exact,
                    })
                    .collect()
            }),
            "at most 16 query parameter matches",
        ),
        (
            "empty query value",
            Box::new(|r| r.query_params[0].value = String::new()),
            "query parameter match \"animal\" value must be non-empty",
        ),
        (
            "identity header set",
            Box::new(move |r| r.filters[0] = set_header("X-Consumer-Id")),
            "may not change the identity header \"X-Consumer-Id\"",
        ),
        (
            "identity header spelled otherwise",
            Box::new(move |r| r.filters[0] = set_header("x_authenticated_userid")),
            "identity header",
        ),
        (
            "identity header removed from the response",
            Box::new(|r| {
                r.filters[2] = RouteFilter::ResponseHeaderModifier {
                    set: vec![],
                    add: vec![],
                    remove: vec!["X-Credential-Identifier".into()],
                }
            }),
            "ResponseHeaderModifier may not change the identity header",
        ),
        (
            "framing header",
            Box::new(move |r| r.filters[0] = set_header("Transfer-Encoding")),
            "which the proxy owns",
        ),
        (
            "two request modifiers",
            Box::new(move |r| r.filters.push(set_header("x-a"))),
            "filter RequestHeaderModifier is given more than once",
        ),
        (
            "redirect and rewrite",
            Box::new(|r| {
                r.filters.push(RouteFilter::RequestRedirect {
                    scheme: Some("https".into()),
                    hostname: None,
                    path: None,
                    port: None,
                    status_code: 301,
                })
            }),
            "RequestRedirect and URLRewrite cannot both apply",
        ),
        (
            "redirect status",
            Box::new(|r| {
                r.filters[1] = RouteFilter::RequestRedirect {
                    scheme: Some("ftp".into()),
                    hostname: Some("*.example.com".into()),
                    path: None,
                    port: Some(0),
                    status_code: 200,
                }
            }),
            "status code 200 must be 301 or 302",
        ),
        (
            "redirect scheme",
            Box::new(|r| {
                r.filters[1] = RouteFilter::RequestRedirect {
                    scheme: Some("ftp".into()),
                    hostname: None,
                    path: None,
                    port: None,
                    status_code: 302,
                }
            }),
            "scheme \"ftp\" must be http or https",
        ),
        (
            "prefix rewrite on an exact match",
            Box::new(|r| {
                r.paths.clear();
                r.exact_paths = vec!["/api".into()];
            }),
            "ReplacePrefixMatch needs a path prefix match",
        ),
        (
            "rewrite path",
            Box::new(|r| {
                r.filters[1] = RouteFilter::UrlRewrite {
                    hostname: None,
                    path: Some(PathModifier::ReplaceFullPath("relative".into())),
                }
            }),
            "ReplaceFullPath \"relative\" must be a normalized absolute path",
        ),
        (
            "backend and backends",
            Box::new(|r| r.backend = r.backends[0].backend.clone()),
            "backend and weighted backends are exclusive",
        ),
        (
            "weight",
            Box::new(|r| r.backends[0].weight = 1_000_001),
            "weight 1000001 is above 1000000",
        ),
        (
            "weighted backend itself",
            Box::new(|r| {
                if let Some(b) = &mut r.backends[0].backend {
                    b.scheme = "gopher".into()
                }
            }),
            "backend 0: backend scheme \"gopher\"",
        ),
        (
            "timeouts",
            Box::new(|r| r.backend_request_timeout_ms = Some(20_000)),
            "backend request timeout (20000 ms) exceeds the request timeout (10000 ms)",
        ),
        (
            "zero timeout",
            Box::new(|r| r.request_timeout_ms = Some(0)),
            "request timeout must be 1 to",
        ),
    ];
    for (name, mutate, want) in cases {
        let mut s = fixtures::snapshot();
        let mut route = gateway_route();
        mutate(&mut route);
        s.routes.push(route);
        let problems = check(&s);
        assert!(
            problems.iter().any(
                |p| p.message.contains(want) && p.subject == Subject::Route(s.routes.len() - 1)
            ),
            "{name}: {problems:?} lacks {want:?}"
        );
    }
}

/// A served certificate for `hosts` from a fresh self-signed pair.
fn served_certificate(source: &str, hosts: &[&str]) -> crate::snapshot::ServedCertificate {
    let names: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
    let generated = rcgen::generate_simple_self_signed(names.clone()).expect("generate");
    crate::snapshot::ServedCertificate {
        hosts: names,
        chain_pem: generated.cert.pem(),
        key_pem: crate::snapshot::KeyPem::new(generated.key_pair.serialize_pem()),
        source: source.into(),
    }
}

#[test]
fn served_certificates_are_valid_and_their_keys_never_shown() {
    let mut s = fixtures::snapshot();
    s.certificates = vec![
        served_certificate("Secret default/a", &["a.example.test"]),
        served_certificate("Secret default/b", &["b.example.test", "*.b.example.test"]),
    ];
    assert_eq!(validate(&s), Ok(()));
    let shown = format!("{s:?}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert!(shown.contains("KeyPem(<redacted>)"));
}

#[test]
fn every_certificate_problem_is_reported_against_its_certificate() {
    type CertMutation = fn(&mut Vec<crate::snapshot::ServedCertificate>);
    let cases: &[(&str, CertMutation, &str)] = &[
        (
            "mismatched key",
            |c| c[1].key_pem = c[0].key_pem.clone(),
            "certificate \"Secret default/b\": the private key does not belong",
        ),
        (
            "broken chain",
            |c| c[1].chain_pem = "nothing".into(),
            "certificate \"Secret default/b\": the certificate chain holds no PEM",
        ),
        (
            "no hosts",
            |c| c[1].hosts.clear(),
            "certificate \"Secret default/b\": serves no host name",
        ),
        (
            "upper-case host",
            |c| c[1].hosts = vec!["B.example.test".into()],
            "host \"B.example.test\" is not a lower-case host name",
        ),
        (
            "host claimed twice",
            |c| c[1].hosts = vec!["a.example.test".into()],
            "host \"a.example.test\" is already served by certificate \"Secret default/a\"",
        ),
        (
            "source twice",
            |c| c[1].source = c[0].source.clone(),
            "source is used more than once",
        ),
        (
            "too many hosts",
            |c| c[1].hosts = (0..=256).map(|i| format!("h{i}.example.test")).collect(),
            "257 host names (at most 256)",
        ),
    ];
    for (name, mutate, want) in cases {
        let mut s = fixtures::snapshot();
        s.certificates = vec![
            served_certificate("Secret default/a", &["a.example.test"]),
            served_certificate("Secret default/b", &["b.example.test"]),
        ];
        mutate(&mut s.certificates);
        let found = check(&s);
        assert!(
            found
                .iter()
                .any(|p| p.subject == Subject::Certificate(1) && p.message.contains(want)),
            "{name}: {found:?} lacks {want:?}"
        );
        assert!(
            found.iter().all(|p| p.subject == Subject::Certificate(1)),
            "{name}: only the certificate is named: {found:?}"
        );
    }
}

#[test]
fn too_many_certificates_are_refused_as_a_whole() {
    let mut s = fixtures::snapshot();
    let one = served_certificate("Secret default/a", &["a.example.test"]);
    s.certificates = (0..=crate::certificate::MAX_CERTIFICATES)
        .map(|i| crate::snapshot::ServedCertificate {
            source: format!("Secret default/c{i}"),
            hosts: vec![format!("c{i}.example.test")],
            ..one.clone()
        })
        .collect();
    let found = check(&s);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].subject, Subject::Snapshot);
}

#[test]
fn a_snapshot_without_certificates_or_listener_bindings_serializes_as_before() {
    let s = fixtures::snapshot();
    let json = String::from_utf8(s.to_json()).expect("utf-8");
    assert!(!json.contains("certificates"), "{json}");
    assert!(!json.contains("listener"), "{json}");
    let mut bound = s.clone();
    bound.routes[0].listener = Some(crate::snapshot::ListenerPort::Https);
    let json = String::from_utf8(bound.to_json()).expect("utf-8");
    assert!(json.contains(r#""listener":"https""#), "{json}");
    let back: Snapshot = serde_json::from_str(&json).expect("decode");
    assert_eq!(back, bound);
}

#[test]
fn the_header_value_check_agrees_with_the_http_crate_on_every_byte() {
    for b in 0u8..=0x7f {
        let value = format!("a{}b", char::from(b));
        assert_eq!(
            is_header_value(&value),
            HeaderValue::from_str(&value).is_ok(),
            "byte {b:#x}"
        );
    }
    for value in ["ü", "a\u{a0}b", "日本"] {
        assert_eq!(
            is_header_value(value),
            HeaderValue::from_str(value).is_ok(),
            "{value:?}"
        );
    }
}
