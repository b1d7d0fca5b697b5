#![allow(clippy::type_complexity)] // table-driven cases are tuples

use super::*;
use crate::fixtures;
use crate::snapshot::PluginConfig;
use crate::token::KeyRing;

struct World {
    snapshot: Snapshot,
    index: SnapshotIndex,
}

fn world() -> World {
    let snapshot = fixtures::snapshot();
    let index = SnapshotIndex::new(&snapshot);
    World { snapshot, index }
}

fn claims(w: &World, binding: Binding) -> Claims {
    let demo = w
        .index
        .credential_by_client_id("default", "client")
        .expect("demo");
    Claims {
        credential_id: uuid_bytes(&demo.credential.id).expect("uuid"),
        epoch: demo.epoch(),
        issued_at: 1000,
        expires_at: 8200,
        binding,
        scope: "read".into(),
        authenticated_userid: String::new(),
    }
}

fn plugin(w: &World, id: &str) -> Plugin {
    w.snapshot
        .plugins
        .iter()
        .find(|p| p.id == id)
        .cloned()
        .expect("plugin")
}

fn with_oauth2(mut p: Plugin, f: impl FnOnce(&mut crate::snapshot::OAuth2Config)) -> Plugin {
    if let PluginConfig::OAuth2(c) = &mut p.config {
        f(c);
    }
    p
}

#[test]
fn a_valid_global_token_identifies_the_consumer() {
    let w = world();
    for id in ["default/auth", "default/oidc"] {
        let identity = authenticate(
            &plugin(&w, id),
            Some(Ok(claims(
                &w,
                Binding::Global(crate::token::namespace_binding("default")),
            ))),
            &w.index,
            2000,
        )
        .expect(id);
        assert_eq!(
            identity
                .consumer
                .map(|c| c.username.as_str())
                .unwrap_or_default(),
            "jane"
        );
        assert_eq!(
            identity.credential.map(|c| c.client_id.as_str()),
            Some("client")
        );
        assert_eq!(identity.scope.as_deref(), Some("read"));
        assert!(!identity.anonymous);
    }
}

#[test]
fn every_rejection_has_its_status_and_challenge() {
    let w = world();
    let auth = plugin(&w, "default/auth");
    let oidc = plugin(&w, "default/oidc");
    let local = with_oauth2(auth.clone(), |c| c.global_credentials = false);
    let realm = with_oauth2(auth.clone(), |c| c.realm = Some("api".into()));
    let bound_here = Binding::Plugin(plugin_binding("default/auth", ""));
    let global = claims(
        &w,
        Binding::Global(crate::token::namespace_binding("default")),
    );
    let invalid = "Bearer error=\"invalid_token\", error_description=\"The access token is invalid or has expired\"";
    let cases: Vec<(&str, &Plugin, Option<Result<Claims, TokenError>>, u16, &str, &str, String)> = vec![
        ("missing", &auth, None, 401, "invalid_request", TOKEN_MISSING, "Bearer".into()),
        ("missing with realm", &realm, None, 401, "invalid_request", TOKEN_MISSING, "Bearer realm=\"api\"".into()),
        ("bad tag", &auth, Some(Err(TokenError::BadTag)), 401, "invalid_token", TOKEN_INVALID, invalid.into()),
        ("invalid with realm", &realm, Some(Err(TokenError::Encoding)), 401, "invalid_token", TOKEN_INVALID,
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"The access token is invalid or has expired\"".into()),
        ("expired", &auth, Some(Ok(Claims { expires_at: 1500, ..global.clone() })), 401, "invalid_token", TOKEN_INVALID, invalid.into()),
        ("deleted credential", &auth, Some(Ok(Claims { credential_id: [0; 16], ..global.clone() })), 401, "invalid_token", TOKEN_INVALID, invalid.into()),
        ("rotated secret", &auth, Some(Ok(Claims { epoch: global.epoch ^ 1, ..global.clone() })), 401, "invalid_token", TOKEN_INVALID, invalid.into()),
        ("global at non-global plugin", &local, Some(Ok(global.clone())), 401, "invalid_token", TOKEN_GLOBAL,
            format!("Bearer error=\"invalid_token\", error_description=\"{TOKEN_GLOBAL}\"")),
        ("bound to another plugin", &auth, Some(Ok(claims(&w, Binding::Plugin(plugin_binding("default/other", ""))))), 401, "invalid_token", TOKEN_INVALID, invalid.into()),
        ("bound token at openid-connect", &oidc, Some(Ok(claims(&w, bound_here))), 401, "invalid_token", TOKEN_INVALID, invalid.into()),
    ];
    for (name, plugin, opened, status, error, description, challenge) in cases {
        let e = authenticate(plugin, opened, &w.index, 2000).expect_err(name);
        assert_eq!(
            (e.status, e.error, e.description.as_str()),
            (status, error, description),
            "{name}"
        );
        assert_eq!(
            e.www_authenticate.as_deref(),
            Some(challenge.as_str()),
            "{name}"
        );
        assert!(
            !e.token_endpoint && e.headers().get("cache-control").is_none(),
            "{name}"
        );
    }
}

#[test]
fn bound_tokens_pass_only_at_their_own_plugin() {
    let w = world();
    for global_credentials in [false, true] {
        let p = with_oauth2(plugin(&w, "default/auth"), |c| {
            c.global_credentials = global_credentials
        });
        let c = claims(&w, Binding::Plugin(plugin_binding("default/auth", "")));
        assert!(
            authenticate(&p, Some(Ok(c)), &w.index, 2000).is_ok(),
            "global_credentials={global_credentials}"
        );
    }
}

#[test]
fn never_expiring_tokens_stay_valid() {
    let w = world();
    let c = Claims {
        expires_at: 0,
        ..claims(
            &w,
            Binding::Global(crate::token::namespace_binding("default")),
        )
    };
    assert!(authenticate(&plugin(&w, "default/auth"), Some(Ok(c)), &w.index, u64::MAX).is_ok());
}

#[test]
fn anonymous_replaces_every_failure() {
    let w = world();
    let jane = fixtures::jane_id();
    let p = with_oauth2(plugin(&w, "default/auth"), |c| {
        c.anonymous = Some(jane.clone())
    });
    for opened in [
        None,
        Some(Err(TokenError::BadTag)),
        Some(Ok(Claims {
            epoch: 1,
            ..claims(
                &w,
                Binding::Global(crate::token::namespace_binding("default")),
            )
        })),
    ] {
        let identity = authenticate(&p, opened, &w.index, 2000).expect("anonymous");
        assert!(identity.anonymous);
        assert_eq!(
            identity.consumer.map(|c| c.id.as_str()).unwrap_or_default(),
            jane
        );
        assert_eq!((identity.credential, identity.scope), (None, None));
    }
    // A valid token still identifies its own credential.
    let identity = authenticate(
        &p,
        Some(Ok(claims(
            &w,
            Binding::Global(crate::token::namespace_binding("default")),
        ))),
        &w.index,
        2000,
    )
    .expect("ok");
    assert!(!identity.anonymous && identity.credential.is_some());
}

#[test]
fn a_missing_anonymous_consumer_is_a_server_error() {
    let w = world();
    let p = with_oauth2(plugin(&w, "default/auth"), |c| {
        c.anonymous = Some("ghost".into())
    });
    let e = authenticate(&p, None, &w.index, 0).expect_err("no consumer");
    assert_eq!(
        (e.status, e.description.as_str()),
        (
            500,
            "anonymous consumer ghost is configured but doesn't exist"
        )
    );
}

#[test]
fn tokens_round_trip_through_issue_open_and_authenticate() {
    let w = world();
    let ring = KeyRing::new(&w.snapshot.signing_keys, &w.snapshot.active_key).expect("ring");
    let token = ring
        .issue(
            &claims(
                &w,
                Binding::Global(crate::token::namespace_binding("default")),
            ),
            [4; 24],
        )
        .expect("issue");
    let identity = authenticate(
        &plugin(&w, "default/oidc"),
        Some(ring.open(&token)),
        &w.index,
        2000,
    )
    .expect("valid");
    assert_eq!(
        identity
            .consumer
            .map(|c| c.username.as_str())
            .unwrap_or_default(),
        "jane"
    );
    let mut tampered = token.into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    assert!(
        authenticate(
            &plugin(&w, "default/oidc"),
            Some(ring.open(&tampered)),
            &w.index,
            2000
        )
        .is_err()
    );
}

#[test]
fn index_precomputes_epochs_and_verifiers() {
    let w = world();
    let demo = w
        .index
        .credential_by_client_id("default", "client")
        .expect("demo");
    assert_eq!(
        demo.epoch(),
        crate::secret::token_epoch(
            demo.credential.secret_verifier.as_deref(),
            &demo.credential.consumer_id,
            &demo.credential.incarnation
        )
    );
    assert!(demo.verifier().is_some_and(|v| v.verify(b"secret")));
    assert!(
        w.index
            .credential_by_client_id("default", "public-client")
            .is_some_and(|e| e.verifier().is_none())
    );
    assert!(
        w.index
            .credential_by_client_id("default", "ghost")
            .is_none()
    );
    assert!(w.index.plugin("default/oidc").is_some());
    assert!(w.index.consumer(&fixtures::jane_id()).is_some());
}

#[test]
fn index_finds_every_consumer_and_credential_of_unsorted_lists() {
    let mut snapshot = fixtures::snapshot();
    let names = ["zed", "amy", "mo", "bea"];
    for (i, name) in names.iter().enumerate() {
        let consumer_id = format!(
            "{:08x}-0000-5000-8000-00000000000{i}",
            0xffff_ff00_u32 - i as u32
        );
        let credential_id = format!("0000000{i}-0000-5000-8000-00000000000{i}");
        snapshot.consumers.push(Consumer {
            groups: Vec::new(),
            id: consumer_id.clone(),
            object: format!("default/{name}"),
            username: (*name).into(),
            custom_id: None,
        });
        snapshot.credentials.push(Credential {
            client_id: format!("client-{name}"),
            consumer_id,
            id: credential_id,
            ..snapshot.credentials[0].clone()
        });
    }
    snapshot.consumers.reverse();
    let index = SnapshotIndex::new(&snapshot);
    for consumer in &snapshot.consumers {
        assert_eq!(index.consumer(&consumer.id), Some(consumer));
    }
    for credential in &snapshot.credentials {
        let by_client_id = index
            .credential_by_client_id("default", &credential.client_id)
            .expect("by client id");
        assert_eq!(by_client_id.credential, credential);
        let uuid = uuid_bytes(&credential.id).expect("uuid");
        let by_id = index.credential(&uuid).expect("by id");
        assert_eq!(by_id.credential, credential);
        // The consumer a token of this credential resolves to is its own.
        let plugin = index.plugin("default/oidc").expect("plugin");
        let claims = Claims {
            credential_id: uuid,
            epoch: by_id.epoch(),
            issued_at: 1000,
            expires_at: 8200,
            binding: Binding::Global(crate::token::namespace_binding("default")),
            scope: String::new(),
            authenticated_userid: String::new(),
        };
        let identity = authenticate(plugin, Some(Ok(claims)), &index, 2000).expect("valid");
        assert_eq!(
            identity.consumer.map(|c| c.id.as_str()).unwrap_or_default(),
            credential.consumer_id
        );
    }
}

/// The namespace boundary: a global token is accepted where it was issued, and in another
/// namespace only by a plugin that lets that namespace in.
#[test]
fn consumers_are_found_by_username_and_custom_id_within_their_namespace_first_by_id() {
    use crate::snapshot::ConsumerBy;
    let consumer = |id: &str, object: &str, username: &str, custom_id: Option<&str>| Consumer {
        groups: Vec::new(),
        id: id.into(),
        object: object.into(),
        username: username.into(),
        custom_id: custom_id.map(Into::into),
    };
    // Unsorted, with a username and a custom id taken twice in one namespace.
    let consumers = vec![
        consumer("c5", "team-b/eve", "shared", None),
        consumer("c4", "team-a/dan", "dan", Some("x")),
        consumer("c2", "team-a/bob", "shared", Some("x")),
        consumer("c3", "team-a/cat", "shared", None),
        consumer("c1", "team-a/ann", "ann", Some("ann-custom")),
    ];
    let index = SnapshotIndex::from_parts(consumers, Vec::new(), Vec::new());
    let found = |namespace: &str, by: ConsumerBy, value: &str| {
        index
            .consumer_named(namespace, by, value)
            .map(|e| e.consumer.id.as_str())
    };
    assert_eq!(found("team-a", ConsumerBy::Username, "shared"), Some("c2"));
    assert_eq!(found("team-b", ConsumerBy::Username, "shared"), Some("c5"));
    assert_eq!(found("team-a", ConsumerBy::Username, "ann"), Some("c1"));
    assert_eq!(found("team-a", ConsumerBy::CustomId, "x"), Some("c2"));
    assert_eq!(
        found("team-a", ConsumerBy::CustomId, "ann-custom"),
        Some("c1")
    );
    assert_eq!(found("team-a", ConsumerBy::Id, "c4"), Some("c4"));
    for (namespace, by, value) in [
        ("team-b", ConsumerBy::Username, "ann"),
        ("team-a", ConsumerBy::Username, "ann-custom"),
        ("team-a", ConsumerBy::CustomId, "ann"),
        ("team-b", ConsumerBy::CustomId, "x"),
        ("team-b", ConsumerBy::Id, "c4"),
        ("team-c", ConsumerBy::Username, "shared"),
        ("", ConsumerBy::Username, ""),
    ] {
        assert_eq!(
            found(namespace, by, value),
            None,
            "{namespace} {by:?} {value}"
        );
    }
}

#[test]
fn global_tokens_cross_namespaces_only_where_a_plugin_lets_them_in() {
    use crate::snapshot::AcceptNamespaces;
    use crate::token::namespace_binding;
    let w = world();
    let from_a = claims(&w, Binding::Global(namespace_binding("team-a")));
    let from_here = claims(&w, Binding::Global(namespace_binding("default")));
    let oidc = plugin(&w, "default/oidc");
    let cases: &[(AcceptNamespaces, &Claims, bool)] = &[
        (AcceptNamespaces::Same, &from_here, true),
        (AcceptNamespaces::Same, &from_a, false),
        (
            AcceptNamespaces::Listed(vec!["team-b".into()]),
            &from_a,
            false,
        ),
        (
            AcceptNamespaces::Listed(vec!["team-a".into()]),
            &from_a,
            true,
        ),
        (AcceptNamespaces::All, &from_a, true),
    ];
    for (accept, claims, accepted) in cases {
        let p = Plugin {
            accept_namespaces: accept.clone(),
            ..oidc.clone()
        };
        let result = authenticate(&p, Some(Ok((*claims).clone())), &w.index, 2000);
        assert_eq!(result.is_ok(), *accepted, "{accept:?} {:?}", claims.binding);
        if let Err(e) = result {
            assert_eq!((e.status, e.description.as_str()), (401, TOKEN_INVALID));
        }
    }
}

/// A plugin deleted and created again under the same name is another incarnation: tokens bound
/// to the first are refused by the second.
#[test]
fn a_plugin_of_another_incarnation_refuses_the_tokens_bound_to_the_first() {
    let w = world();
    let first = Plugin {
        incarnation: "uid-1".into(),
        ..with_oauth2(plugin(&w, "default/auth"), |c| c.global_credentials = false)
    };
    let bound = claims(&w, Binding::Plugin(plugin_binding(&first.id, "uid-1")));
    assert!(authenticate(&first, Some(Ok(bound.clone())), &w.index, 2000).is_ok());
    let second = Plugin {
        incarnation: "uid-2".into(),
        ..first
    };
    let refused = authenticate(&second, Some(Ok(bound)), &w.index, 2000).expect_err("refused");
    assert_eq!(refused.description, TOKEN_INVALID);
}

/// Rotating a secret back, or moving a credential to another consumer, gives another epoch: its
/// older tokens stay refused.
#[test]
fn a_credential_of_another_incarnation_or_consumer_refuses_older_tokens() {
    let w = world();
    let old = claims(
        &w,
        Binding::Global(crate::token::namespace_binding("default")),
    );
    let oidc = plugin(&w, "default/oidc");
    const MALLORY: &str = "00000000-0000-5000-8000-00000000beef";
    for change in [
        (|c: &mut Credential| c.incarnation = "secret-uid/42".into()) as fn(&mut Credential),
        |c| c.consumer_id = MALLORY.into(),
    ] {
        let mut snapshot = w.snapshot.clone();
        // Another consumer exists, so a refusal comes from the epoch, not a missing consumer.
        snapshot.consumers.push(Consumer {
            groups: Vec::new(),
            id: MALLORY.into(),
            object: "default/mallory".into(),
            username: "mallory".into(),
            custom_id: None,
        });
        let demo = snapshot
            .credentials
            .iter_mut()
            .find(|c| c.client_id == "client")
            .expect("demo");
        change(demo);
        let index = SnapshotIndex::new(&snapshot);
        let refused =
            authenticate(&oidc, Some(Ok(old.clone())), &index, 2000).expect_err("refused");
        assert_eq!(refused.description, TOKEN_INVALID);
    }
}

/// Client ids are unique per namespace: the token endpoint of a plugin finds the credential of
/// its own namespace first, one of another namespace only when the plugin lets it in, and none
/// when two other namespaces it lets in hold the id.
#[test]
fn a_client_id_names_the_credential_of_the_plugins_namespace_or_of_one_it_lets_in() {
    use crate::snapshot::AcceptNamespaces;
    let w = world();
    let demo = w
        .index
        .credential_by_client_id("default", "client")
        .expect("demo")
        .credential
        .clone();
    let in_ns = |ns: &str, n: u8| Credential {
        object: format!("{ns}/demo"),
        id: format!("00000000-0000-5000-8000-0000000000{n:02x}"),
        ..demo.clone()
    };
    let mut snapshot = w.snapshot.clone();
    snapshot.credentials.push(in_ns("team-a", 1));
    snapshot.credentials.push(in_ns("team-b", 2));
    let index = SnapshotIndex::new(&snapshot);
    let auth = plugin(&w, "default/auth");
    let at = |ns: &str, accept: AcceptNamespaces| Plugin {
        id: format!("{ns}/auth"),
        accept_namespaces: accept,
        ..auth.clone()
    };
    let found = |p: &Plugin| {
        index
            .credential_for_plugin("client", p)
            .map(|e| e.credential.object.clone())
    };
    assert_eq!(found(&auth).as_deref(), Some("default/demo"));
    assert_eq!(
        found(&at("team-a", AcceptNamespaces::All)).as_deref(),
        Some("team-a/demo")
    );
    assert_eq!(found(&at("team-c", AcceptNamespaces::Same)), None);
    assert_eq!(
        found(&at(
            "team-c",
            AcceptNamespaces::Listed(vec!["team-b".into()])
        ))
        .as_deref(),
        Some("team-b/demo")
    );
    // Two namespaces let in hold the id, neither is the plugin's own: ambiguous, refused.
    assert_eq!(found(&at("team-c", AcceptNamespaces::All)), None);
    assert!(
        crate::validate::validate(&snapshot).is_ok(),
        "same id in three namespaces is valid"
    );
    snapshot.credentials.push(Credential {
        object: "team-a/other".into(),
        ..in_ns("team-a", 3)
    });
    let problems = crate::validate::validate(&snapshot).expect_err("duplicate in team-a");
    assert!(
        problems.iter().any(|p| p.contains("same namespace")),
        "{problems:?}"
    );
}

/// The `bearer` method, as the proxy drives it: a JWT of the plugin's issuer is verified with
/// its keys and mapped to a Consumer of the plugin's namespace.
mod bearer {
    use super::*;
    use crate::jwt::tests::{Signer, token};
    use crate::snapshot::{AuthMethod, BearerConfig, ConsumerBy};
    use serde_json::json;

    const ISSUER: &str = "https://id.example.test";
    const NOW: u64 = 1_800_000_000;

    fn oidc(
        signer: &Signer,
        f: impl FnOnce(&mut crate::snapshot::OpenIdConnectConfig),
    ) -> (Snapshot, Plugin) {
        let mut snapshot = fixtures::snapshot();
        let plugin = snapshot
            .plugins
            .iter_mut()
            .find(|p| p.id == "default/oidc")
            .expect("oidc");
        if let PluginConfig::OpenIdConnect(c) = &mut plugin.config {
            c.auth_methods = vec![AuthMethod::KongOauth2, AuthMethod::Bearer];
            c.bearer = Some(Box::new(BearerConfig {
                issuer: ISSUER.into(),
                jwks: vec![signer.jwk("k1")],
                audience_required: vec!["api".into()],
                consumer_claim: vec!["client_id".into()],
                consumer_by: vec![ConsumerBy::Username],
                consumer_optional: false,
                leeway: 30,
            }));
            f(c);
        }
        let plugin = plugin.clone();
        (snapshot, plugin)
    }

    fn jwt(signer: &Signer, client_id: &str, scope: &str) -> String {
        token(
            signer,
            json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt"}),
            json!({"iss": ISSUER, "aud": "api", "sub": "svc-7", "client_id": client_id,
                   "scope": scope, "exp": NOW + 60}),
        )
    }

    fn run<'i>(
        plugin: &Plugin,
        index: &'i SnapshotIndex,
        token: Option<&str>,
    ) -> Result<Identity<'i>, OAuthError> {
        let mut kong = |_: &str| Err::<Claims, _>(TokenError::Malformed);
        let mut jwt = |t: &str, keys: &crate::jwt::JwtKeys, policy: &crate::jwt::JwtPolicy<'_>| {
            crate::jwt::verify(keys, policy, t, NOW)
        };
        // The provider vouches for exactly one opaque token.
        let mut introspected = |t: &str| {
            (t == "opaque-active").then(|| {
                crate::jwt::claims_of(
                    json!({"active": true, "client_id": "jane", "sub": "svc-9", "scope": "read",
                           "exp": NOW + 60})
                    .as_object()
                    .expect("object"),
                )
            })
        };
        authenticate_presented(
            plugin,
            token,
            index,
            NOW,
            Openers {
                kong: &mut kong,
                jwt: &mut jwt,
                introspected: &mut introspected,
            },
        )
    }

    #[test]
    fn a_token_of_the_issuer_maps_to_the_consumer_its_claim_names() {
        let signer = Signer::ec();
        let (snapshot, plugin) = oidc(&signer, |_| {});
        let index = SnapshotIndex::new(&snapshot);
        let identity = run(&plugin, &index, Some(&jwt(&signer, "jane", "read"))).expect("accepted");
        assert_eq!(identity.consumer.map(|c| c.username.as_str()), Some("jane"));
        assert_eq!(identity.subject.as_deref(), Some("svc-7"));
        assert_eq!(identity.token_client_id.as_deref(), Some("jane"));
        assert_eq!(identity.scope.as_deref(), Some("read"));
        let mut headers = Vec::new();
        crate::oauth::identity_headers(&identity, |n, v| headers.push((n.to_string(), v)));
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "x-consumer-id",
                "x-consumer-username",
                "x-consumer-custom-id",
                "x-credential-identifier",
                "x-authenticated-userid",
                "x-authenticated-scope"
            ]
        );
    }

    #[test]
    fn a_token_naming_no_consumer_is_refused_unless_the_consumer_is_optional() {
        let signer = Signer::ec();
        let (snapshot, plugin) = oidc(&signer, |_| {});
        let index = SnapshotIndex::new(&snapshot);
        let refused =
            run(&plugin, &index, Some(&jwt(&signer, "nobody", "read"))).expect_err("no consumer");
        assert_eq!((refused.status, refused.error), (401, "invalid_token"));
        let (snapshot, plugin) = oidc(&signer, |c| {
            if let Some(b) = &mut c.bearer {
                b.consumer_optional = true;
            }
        });
        let index = SnapshotIndex::new(&snapshot);
        let identity =
            run(&plugin, &index, Some(&jwt(&signer, "nobody", "read"))).expect("optional");
        assert!(identity.consumer.is_none());
        let mut names = Vec::new();
        crate::oauth::identity_headers(&identity, |n, _| names.push(n.to_string()));
        assert_eq!(
            names,
            [
                "x-credential-identifier",
                "x-authenticated-userid",
                "x-authenticated-scope"
            ]
        );
    }

    #[test]
    fn an_introspected_token_maps_like_a_jwt_and_an_inactive_one_is_refused() {
        let signer = Signer::ec();
        let (snapshot, plugin) = oidc(&signer, |c| {
            c.auth_methods = vec![AuthMethod::Bearer, AuthMethod::Introspection];
            c.introspection = Some(Box::new(crate::snapshot::IntrospectionConfig {
                endpoint: "https://id.example.test/introspect".into(),
                client_id: "gateway".into(),
                client_secret: "s".into(),
                consumer_claim: vec!["client_id".into()],
                consumer_by: vec![ConsumerBy::Username],
                consumer_optional: false,
            }));
        });
        let index = SnapshotIndex::new(&snapshot);
        let identity = run(&plugin, &index, Some("opaque-active")).expect("active");
        assert_eq!(identity.consumer.map(|c| c.username.as_str()), Some("jane"));
        assert_eq!(identity.subject.as_deref(), Some("svc-9"));
        let refused = run(&plugin, &index, Some("opaque-revoked")).expect_err("inactive");
        assert_eq!((refused.status, refused.error), (401, "invalid_token"));
        // The JWT of the bearer method still works on the same plugin.
        assert!(run(&plugin, &index, Some(&jwt(&signer, "jane", "read"))).is_ok());
        let debug = format!("{:?}", plugin);
        assert!(!debug.contains("client_secret: \"s\""), "{debug}");
    }

    #[test]
    fn consumers_of_other_namespaces_are_never_mapped() {
        let signer = Signer::ec();
        let (mut snapshot, plugin) = oidc(&signer, |_| {});
        snapshot.consumers.push(Consumer {
            groups: Vec::new(),
            id: "00000000-0000-5000-8000-0000000000aa".into(),
            object: "team-b/mallory".into(),
            username: "mallory".into(),
            custom_id: None,
        });
        let index = SnapshotIndex::new(&snapshot);
        assert!(run(&plugin, &index, Some(&jwt(&signer, "mallory", "read"))).is_err());
    }

    #[test]
    fn a_missing_required_scope_is_a_403_with_the_scope_in_the_challenge() {
        let signer = Signer::ec();
        let (snapshot, plugin) = oidc(&signer, |c| {
            c.scopes_required = vec!["orders:write".into()];
            c.anonymous = Some(fixtures::jane_id());
        });
        let index = SnapshotIndex::new(&snapshot);
        let refused =
            run(&plugin, &index, Some(&jwt(&signer, "jane", "orders:read"))).expect_err("scope");
        assert_eq!((refused.status, refused.error), (403, "insufficient_scope"));
        let challenge = refused.www_authenticate.unwrap_or_default();
        assert!(
            challenge.contains(r#"error="insufficient_scope""#),
            "{challenge}"
        );
        assert!(
            challenge.ends_with(r#"scope="orders:write""#),
            "{challenge}"
        );
        let ok = run(
            &plugin,
            &index,
            Some(&jwt(&signer, "jane", "orders:read orders:write")),
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn methods_are_tried_in_order_and_a_bad_token_falls_back_to_anonymous() {
        let signer = Signer::ec();
        let other = Signer::ec();
        // Only kong_oauth2: a JWT, even a valid one, is not accepted.
        let (snapshot, plugin) = oidc(&signer, |c| c.auth_methods = vec![AuthMethod::KongOauth2]);
        let index = SnapshotIndex::new(&snapshot);
        assert!(run(&plugin, &index, Some(&jwt(&signer, "jane", "read"))).is_err());
        // A forged JWT with an anonymous consumer set: the anonymous identity.
        let (snapshot, plugin) = oidc(&signer, |c| c.anonymous = Some(fixtures::jane_id()));
        let index = SnapshotIndex::new(&snapshot);
        let anonymous =
            run(&plugin, &index, Some(&jwt(&other, "jane", "read"))).expect("anonymous");
        assert!(anonymous.anonymous);
        assert!(anonymous.subject.is_none());
        // No token at all: missing, as before.
        let (snapshot, plugin) = oidc(&signer, |_| {});
        let index = SnapshotIndex::new(&snapshot);
        let missing = run(&plugin, &index, None).expect_err("missing");
        assert_eq!(missing.description, TOKEN_MISSING);
    }
}

/// Kong's `acl` on a plugin: the consumer's groups decide, with Kong's 403 body; the groups go
/// upstream as `X-Consumer-Groups`.
#[test]
fn an_acl_admits_by_group_and_refuses_with_kongs_message() {
    use crate::snapshot::Acl;
    let mut snapshot = fixtures::snapshot();
    snapshot.consumers[0].groups = vec!["billing".into(), "ops".into()];
    let index = SnapshotIndex::new(&snapshot);
    let oidc = plugin(
        &World {
            snapshot: snapshot.clone(),
            index: SnapshotIndex::new(&snapshot),
        },
        "default/oidc",
    );
    let token = |w: &SnapshotIndex| {
        let demo = w
            .credential_by_client_id("default", "client")
            .expect("demo");
        Claims {
            credential_id: uuid_bytes(&demo.credential.id).expect("uuid"),
            epoch: demo.epoch(),
            issued_at: 1000,
            expires_at: 8200,
            binding: Binding::Global(crate::token::namespace_binding("default")),
            scope: String::new(),
            authenticated_userid: String::new(),
        }
    };
    let cases = [
        (
            Acl {
                allow: vec!["billing".into()],
                deny: vec![],
            },
            true,
        ),
        (
            Acl {
                allow: vec!["admins".into()],
                deny: vec![],
            },
            false,
        ),
        (
            Acl {
                allow: vec![],
                deny: vec!["ops".into()],
            },
            false,
        ),
        (
            Acl {
                allow: vec![],
                deny: vec!["interns".into()],
            },
            true,
        ),
        (
            Acl {
                allow: vec!["billing".into()],
                deny: vec!["ops".into()],
            },
            false,
        ),
    ];
    for (acl, admitted) in cases {
        let p = Plugin {
            acl: Some(acl.clone()),
            ..oidc.clone()
        };
        match authenticate(&p, Some(Ok(token(&index))), &index, 2000) {
            Ok(identity) => {
                assert!(admitted, "{acl:?} admitted");
                let mut headers = Vec::new();
                crate::oauth::identity_headers(&identity, |n, v| headers.push((n.to_string(), v)));
                let groups = headers.iter().find(|(n, _)| n == "x-consumer-groups");
                assert_eq!(
                    groups.map(|(_, v)| v.to_str().unwrap_or_default()),
                    Some("billing, ops")
                );
            }
            Err(e) => {
                assert!(!admitted, "{acl:?} refused");
                assert_eq!(e.status, 403);
                assert_eq!(
                    e.body(),
                    br#"{"message":"You cannot consume this service"}"#
                );
            }
        }
    }
}
