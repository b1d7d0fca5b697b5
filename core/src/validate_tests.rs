use super::*;
use crate::fixtures;
use crate::snapshot::{BearerTokenParamType, SigningKey};

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
