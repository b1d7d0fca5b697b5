//! Every problem kind, what it drops and what it leaves served.

use std::sync::Arc;

use super::*;
use crate::resources::gateway_route::{Backend, ServiceBackend};
use crate::resources::oauth2_credential::ClientType;

// ---- every problem kind, and what it drops ----

struct Case {
    name: &'static str,
    change: fn(&mut Objects),
    /// (kind, name, reason, condition) of every expected problem.
    problems: &'static [(Kind, &'static str, &'static str, ProblemCondition)],
    /// Objects expected to be left out of the snapshot.
    dropped: &'static [&'static str],
}

use Kind::{AuthPlugin as P, Consumer as C, GatewayRoute as R, OAuth2Credential as O};
use ProblemCondition::{Accepted as ACC, ResolvedRefs as REFS};

const CASES: &[Case] = &[
    Case {
        name: "missing secret drops only the credential",
        change: |o| o.secrets.clear(),
        problems: &[(O, "demo", reason::SECRET_NOT_FOUND, REFS)],
        dropped: &["OAuth2Credential/default/demo"],
    },
    Case {
        name: "an unlabelled secret is invisible",
        change: |o| {
            let mut s = secret("demo-client-secret", "client_secret", "secret");
            s.metadata.labels = None;
            o.secrets = vec![Arc::new(s)];
        },
        problems: &[(O, "demo", reason::SECRET_NOT_FOUND, REFS)],
        dropped: &["OAuth2Credential/default/demo"],
    },
    Case {
        name: "a secret in another namespace does not resolve",
        change: |o| {
            let mut s = secret("demo-client-secret", "client_secret", "secret");
            s.metadata.namespace = Some("other".into());
            o.secrets = vec![Arc::new(s)];
        },
        problems: &[(O, "demo", reason::SECRET_NOT_FOUND, REFS)],
        dropped: &["OAuth2Credential/default/demo"],
    },
    Case {
        name: "a pre-hashed verifier beyond the cost bounds is refused, not taken as plaintext",
        change: |o| {
            o.secrets = vec![Arc::new(secret(
                "demo-client-secret",
                "client_secret",
                "$argon2id$v=19$m=262144,t=16,p=1$AAECAwQFBgcICQoLDA0ODw$s1qOkFay1DbcR0sablkjBgtOqf1IcoQVkkK1uzR9LdU",
            ))]
        },
        problems: &[(O, "demo", reason::INVALID_SECRET, REFS)],
        dropped: &["OAuth2Credential/default/demo"],
    },
    Case {
        name: "missing secret key drops only the credential",
        change: |o| o.secrets = vec![Arc::new(secret("demo-client-secret", "other", "x"))],
        problems: &[(O, "demo", reason::SECRET_KEY_NOT_FOUND, REFS)],
        dropped: &["OAuth2Credential/default/demo"],
    },
    Case {
        name: "an empty secret value is refused",
        change: |o| o.secrets = vec![Arc::new(secret("demo-client-secret", "client_secret", ""))],
        problems: &[(O, "demo", reason::INVALID_SECRET, REFS)],
        dropped: &["OAuth2Credential/default/demo"],
    },
    Case {
        name: "missing consumer drops the credential",
        change: |o| o.consumers.clear(),
        problems: &[(O, "demo", reason::CONSUMER_NOT_FOUND, REFS)],
        dropped: &["Consumer/default/jane", "OAuth2Credential/default/demo"],
    },
    Case {
        name: "an invalid consumer drops itself and its credential",
        change: |o| {
            let mut jane = consumer("jane");
            jane.spec.username = Some("jane\r\nX-Consumer-Id: admin".into());
            o.consumers = vec![Arc::new(jane)];
        },
        problems: &[
            (C, "jane", reason::INVALID_CONSUMER, ACC),
            (O, "demo", reason::CONSUMER_NOT_ACCEPTED, REFS),
        ],
        dropped: &["Consumer/default/jane", "OAuth2Credential/default/demo"],
    },
    Case {
        name: "a public client with a secret is refused",
        change: |o| edit_credential(o, |c| c.spec.client_type = ClientType::Public),
        problems: &[(O, "demo", reason::INVALID_CREDENTIAL, ACC)],
        dropped: &["OAuth2Credential/default/demo"],
    },
    Case {
        name: "a confidential client without a secret is refused",
        change: |o| edit_credential(o, |c| c.spec.client_secret_ref = None),
        problems: &[(O, "demo", reason::INVALID_CREDENTIAL, ACC)],
        dropped: &["OAuth2Credential/default/demo"],
    },
    Case {
        name: "a redirect uri with a fragment is refused",
        change: |o| {
            edit_credential(o, |c| {
                c.spec.redirect_uris = vec!["https://app.example/cb#x".into()]
            })
        },
        problems: &[(O, "demo", reason::INVALID_CREDENTIAL, ACC)],
        dropped: &["OAuth2Credential/default/demo"],
    },
    Case {
        name: "a client id with spaces is refused",
        change: |o| edit_credential(o, |c| c.spec.client_id = "my client".into()),
        problems: &[(O, "demo", reason::INVALID_CREDENTIAL, ACC)],
        dropped: &["OAuth2Credential/default/demo"],
    },
    Case {
        name: "a missing plugin drops the route that names it, never serving it unprotected",
        change: |o| {
            o.plugins
                .retain(|p| p.metadata.name.as_deref() != Some("oidc"))
        },
        problems: &[(R, "httpbin", reason::PLUGIN_NOT_FOUND, REFS)],
        dropped: &["AuthPlugin/default/oidc", "GatewayRoute/default/httpbin"],
    },
    Case {
        name: "a plugin whose block does not match its type drops it and its routes",
        change: |o| {
            edit_plugin(o, "oidc", |p| {
                p.spec.openid_connect = None;
                p.spec.oauth2 = Some(oauth2_settings());
            })
        },
        problems: &[
            (P, "oidc", reason::PLUGIN_TYPE_MISMATCH, ACC),
            (R, "httpbin", reason::PLUGIN_NOT_ACCEPTED, REFS),
        ],
        dropped: &["AuthPlugin/default/oidc", "GatewayRoute/default/httpbin"],
    },
    Case {
        name: "a plugin with both blocks is a type mismatch",
        change: |o| {
            edit_plugin(o, "oauth2", |p| {
                p.spec.openid_connect = Some(oidc_settings())
            })
        },
        problems: &[
            (P, "oauth2", reason::PLUGIN_TYPE_MISMATCH, ACC),
            (R, "auth", reason::PLUGIN_NOT_ACCEPTED, REFS),
        ],
        dropped: &["AuthPlugin/default/oauth2", "GatewayRoute/default/auth"],
    },
    Case {
        name: "an oauth2 plugin without an enabled grant is invalid",
        change: |o| {
            edit_plugin(o, "oauth2", |p| {
                if let Some(s) = p.spec.oauth2.as_mut() {
                    s.enable_client_credentials = false;
                }
            })
        },
        problems: &[
            (P, "oauth2", reason::INVALID_PLUGIN, ACC),
            (R, "auth", reason::PLUGIN_NOT_ACCEPTED, REFS),
        ],
        dropped: &["AuthPlugin/default/oauth2", "GatewayRoute/default/auth"],
    },
    Case {
        name: "the authorization code grant without a provision key is invalid",
        change: |o| {
            edit_plugin(o, "oauth2", |p| {
                if let Some(s) = p.spec.oauth2.as_mut() {
                    s.enable_client_credentials = false;
                    s.enable_authorization_code = true;
                }
            })
        },
        problems: &[
            (P, "oauth2", reason::INVALID_PLUGIN, ACC),
            (R, "auth", reason::PLUGIN_NOT_ACCEPTED, REFS),
        ],
        dropped: &["AuthPlugin/default/oauth2", "GatewayRoute/default/auth"],
    },
    Case {
        name: "an authorization code lifetime beyond ten minutes is invalid",
        change: |o| {
            edit_plugin(o, "oauth2", |p| {
                if let Some(s) = p.spec.oauth2.as_mut() {
                    s.authorization_code_ttl = 601;
                }
            })
        },
        problems: &[
            (P, "oauth2", reason::INVALID_PLUGIN, ACC),
            (R, "auth", reason::PLUGIN_NOT_ACCEPTED, REFS),
        ],
        dropped: &["AuthPlugin/default/oauth2", "GatewayRoute/default/auth"],
    },
    Case {
        name: "mandatory scope without scopes is invalid",
        change: |o| {
            edit_plugin(o, "oauth2", |p| {
                if let Some(s) = p.spec.oauth2.as_mut() {
                    s.mandatory_scope = true;
                }
            })
        },
        problems: &[
            (P, "oauth2", reason::INVALID_PLUGIN, ACC),
            (R, "auth", reason::PLUGIN_NOT_ACCEPTED, REFS),
        ],
        dropped: &["AuthPlugin/default/oauth2", "GatewayRoute/default/auth"],
    },
    Case {
        name: "a negative token expiration is invalid",
        change: |o| {
            edit_plugin(o, "oauth2", |p| {
                if let Some(s) = p.spec.oauth2.as_mut() {
                    s.token_expiration = -1;
                }
            })
        },
        problems: &[
            (P, "oauth2", reason::INVALID_PLUGIN, ACC),
            (R, "auth", reason::PLUGIN_NOT_ACCEPTED, REFS),
        ],
        dropped: &["AuthPlugin/default/oauth2", "GatewayRoute/default/auth"],
    },
    Case {
        name: "an openid-connect plugin without kong_oauth2 is invalid",
        change: |o| {
            edit_plugin(o, "oidc", |p| {
                if let Some(s) = p.spec.openid_connect.as_mut() {
                    s.auth_methods.clear();
                }
            })
        },
        problems: &[
            (P, "oidc", reason::INVALID_PLUGIN, ACC),
            (R, "httpbin", reason::PLUGIN_NOT_ACCEPTED, REFS),
        ],
        dropped: &["AuthPlugin/default/oidc", "GatewayRoute/default/httpbin"],
    },
    Case {
        name: "a realm with quotes is invalid",
        change: |o| {
            edit_plugin(o, "oidc", |p| {
                if let Some(s) = p.spec.openid_connect.as_mut() {
                    s.realm = Some("a\"b".into());
                }
            })
        },
        problems: &[
            (P, "oidc", reason::INVALID_PLUGIN, ACC),
            (R, "httpbin", reason::PLUGIN_NOT_ACCEPTED, REFS),
        ],
        dropped: &["AuthPlugin/default/oidc", "GatewayRoute/default/httpbin"],
    },
    Case {
        name: "a missing anonymous consumer drops the plugin and its routes",
        change: |o| {
            edit_plugin(o, "oauth2", |p| {
                if let Some(s) = p.spec.oauth2.as_mut() {
                    s.anonymous = Some("nobody".into());
                }
            })
        },
        problems: &[
            (P, "oauth2", reason::ANONYMOUS_CONSUMER_NOT_FOUND, REFS),
            (R, "auth", reason::PLUGIN_NOT_ACCEPTED, REFS),
        ],
        dropped: &["AuthPlugin/default/oauth2", "GatewayRoute/default/auth"],
    },
    Case {
        name: "an invalid path drops only its route",
        change: |o| edit_route(o, "auth", |r| r.spec.paths = vec!["auth".into()]),
        problems: &[(R, "auth", reason::INVALID_PATH, ACC)],
        dropped: &["GatewayRoute/default/auth"],
    },
    Case {
        name: "a path climbing above the root is invalid",
        change: |o| edit_route(o, "auth", |r| r.spec.paths = vec!["/../x".into()]),
        problems: &[(R, "auth", reason::INVALID_PATH, ACC)],
        dropped: &["GatewayRoute/default/auth"],
    },
    Case {
        name: "a path with a query is invalid",
        change: |o| edit_route(o, "auth", |r| r.spec.paths = vec!["/auth?x=1".into()]),
        problems: &[(R, "auth", reason::INVALID_PATH, ACC)],
        dropped: &["GatewayRoute/default/auth"],
    },
    Case {
        name: "an invalid host drops only its route",
        change: |o| edit_route(o, "auth", |r| r.spec.hosts = vec!["bad host".into()]),
        problems: &[(R, "auth", reason::INVALID_HOST, ACC)],
        dropped: &["GatewayRoute/default/auth"],
    },
    Case {
        name: "an invalid method drops only its route",
        change: |o| edit_route(o, "auth", |r| r.spec.methods = vec!["GE T".into()]),
        problems: &[(R, "auth", reason::INVALID_METHOD, ACC)],
        dropped: &["GatewayRoute/default/auth"],
    },
    Case {
        name: "two plugins on a route are refused",
        change: |o| {
            edit_route(o, "auth", |r| {
                r.spec.plugins = vec!["oauth2".into(), "oidc".into()]
            })
        },
        problems: &[(R, "auth", reason::TOO_MANY_PLUGINS, ACC)],
        dropped: &["GatewayRoute/default/auth"],
    },
    Case {
        name: "an invalid rate limit drops itself and the route that lists it, never serving it unlimited",
        change: |o| {
            let mut limit = rate_limit_plugin("limit", 10);
            if let Some(s) = limit.spec.rate_limiting.as_mut() {
                s.hour = Some(5);
            }
            o.plugins.push(Arc::new(limit));
            edit_route(o, "httpbin", |r| {
                r.spec.plugins = vec!["limit".into(), "oidc".into()]
            })
        },
        problems: &[
            (P, "limit", reason::INVALID_PLUGIN, ACC),
            (R, "httpbin", reason::PLUGIN_NOT_ACCEPTED, REFS),
        ],
        dropped: &["GatewayRoute/default/httpbin"],
    },
    Case {
        name: "a backend with both service and url is invalid",
        change: |o| {
            edit_route(o, "httpbin", |r| {
                if let Some(b) = r.spec.backend.as_mut() {
                    b.service = Some(ServiceBackend {
                        name: "httpbin".into(),
                        port: 80,
                    });
                }
            })
        },
        problems: &[(R, "httpbin", reason::INVALID_BACKEND, ACC)],
        dropped: &["GatewayRoute/default/httpbin"],
    },
    Case {
        name: "a backend with neither service nor url is invalid",
        change: |o| {
            edit_route(o, "httpbin", |r| {
                if let Some(b) = r.spec.backend.as_mut() {
                    b.url = None;
                }
            })
        },
        problems: &[(R, "httpbin", reason::INVALID_BACKEND, ACC)],
        dropped: &["GatewayRoute/default/httpbin"],
    },
    Case {
        name: "a backend host the proxy refuses drops only the route",
        change: |o| {
            edit_route(o, "httpbin", |r| {
                r.spec.backend = Some(url_backend("http://a!b/"));
            })
        },
        problems: &[(R, "httpbin", reason::INVALID_CONFIGURATION, ACC)],
        dropped: &["GatewayRoute/default/httpbin"],
    },
    Case {
        name: "a backend url of another scheme is invalid",
        change: |o| {
            edit_route(o, "httpbin", |r| {
                r.spec.backend = Some(url_backend("ftp://127.0.0.1/"));
            })
        },
        problems: &[(R, "httpbin", reason::INVALID_BACKEND, ACC)],
        dropped: &["GatewayRoute/default/httpbin"],
    },
    Case {
        name: "a zero timeout is invalid",
        change: |o| {
            edit_route(o, "httpbin", |r| {
                if let Some(b) = r.spec.backend.as_mut() {
                    b.read_timeout_ms = 0;
                }
            })
        },
        problems: &[(R, "httpbin", reason::INVALID_BACKEND, ACC)],
        dropped: &["GatewayRoute/default/httpbin"],
    },
    Case {
        name: "an unknown service drops only its route",
        change: |o| {
            edit_route(o, "httpbin", |r| {
                r.spec.backend = Some(Backend {
                    service: Some(ServiceBackend {
                        name: "httpbin".into(),
                        port: 80,
                    }),
                    url: None,
                    connect_timeout_ms: 1,
                    read_timeout_ms: 1,
                    preserve_host: false,
                });
            })
        },
        problems: &[(R, "httpbin", reason::SERVICE_NOT_FOUND, REFS)],
        dropped: &["GatewayRoute/default/httpbin"],
    },
];

#[test]
fn every_problem_kind_drops_the_object_and_its_dependents_but_never_the_others() {
    for case in CASES {
        let mut objects = quickstart();
        (case.change)(&mut objects);
        let t = run(&objects);
        let got: Vec<(Kind, &str, &str, ProblemCondition)> = t
            .problems
            .iter()
            .map(|p| (p.kind, p.name.as_str(), p.reason, p.condition))
            .collect();
        assert_eq!(got, case.problems.to_vec(), "{}: problems", case.name);
        let expected: Vec<&str> = all_quickstart_objects()
            .into_iter()
            .filter(|o| !case.dropped.contains(o))
            .collect();
        assert_eq!(served(&t), expected, "{}: served objects", case.name);
        for p in &t.problems {
            assert!(!p.message.is_empty(), "{}: empty message", case.name);
            assert!(
                !p.message.contains(PLAINTEXT),
                "{}: {}",
                case.name,
                p.message
            );
        }
    }
}

#[test]
fn every_dropped_object_has_a_problem() {
    for case in CASES {
        let mut objects = quickstart();
        (case.change)(&mut objects);
        let t = run(&objects);
        for dropped in case.dropped {
            let mut parts = dropped.splitn(3, '/');
            let (kind, ns, name) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            let present = objects_named(&objects, kind, name);
            if present {
                assert!(
                    t.problems
                        .iter()
                        .any(|p| p.kind.as_str() == kind && p.namespace == ns && p.name == name),
                    "{}: {dropped} was dropped without a problem",
                    case.name
                );
            }
        }
    }
}

fn objects_named(objects: &Objects, kind: &str, name: &str) -> bool {
    let n = Some(name);
    match kind {
        "Consumer" => objects
            .consumers
            .iter()
            .any(|o| o.metadata.name.as_deref() == n),
        "OAuth2Credential" => objects
            .credentials
            .iter()
            .any(|o| o.metadata.name.as_deref() == n),
        "AuthPlugin" => objects
            .plugins
            .iter()
            .any(|o| o.metadata.name.as_deref() == n),
        "GatewayRoute" => objects
            .routes
            .iter()
            .any(|o| o.metadata.name.as_deref() == n),
        _ => false,
    }
}
