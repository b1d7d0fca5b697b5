//! Namespaces as tenant boundaries and incarnations, as the translation builds them.

use k8s_openapi::api::core::v1::Namespace;
use tollgate_core::snapshot::AcceptNamespaces;

use super::*;
use crate::resources::auth_plugin::{
    AllowedNamespaces, FromNamespaces, NamespaceSelector, SelectorOperator, SelectorRequirement,
};

fn namespace(name: &str, labels: &[(&str, &str)]) -> Arc<Namespace> {
    Arc::new(Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).into(), (*v).into()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    })
}

fn accepted(
    objects: &Objects,
    allowed: Option<AllowedNamespaces>,
) -> Result<AcceptNamespaces, String> {
    let mut objects = objects.clone();
    Arc::make_mut(&mut objects.plugins[0])
        .spec
        .allowed_namespaces = allowed;
    let t = run(&objects);
    match t.snapshot.plugins.iter().find(|p| p.id == "default/oauth2") {
        Some(p) => Ok(p.accept_namespaces.clone()),
        None => Err(format!("{:?}", t.problems)),
    }
}

#[test]
fn allowed_namespaces_resolve_same_all_and_a_selector_over_namespace_labels() {
    let mut objects = quickstart();
    objects.namespaces = vec![
        namespace("default", &[("tenant", "shop")]),
        namespace("team-a", &[("tenant", "shop"), ("tier", "gold")]),
        namespace("team-b", &[("tenant", "shop")]),
        namespace("team-c", &[("tenant", "bank")]),
    ];
    assert_eq!(accepted(&objects, None), Ok(AcceptNamespaces::Same));
    let from = |from, selector| Some(AllowedNamespaces { from, selector });
    assert_eq!(
        accepted(&objects, from(FromNamespaces::All, None)),
        Ok(AcceptNamespaces::All)
    );
    let shop = NamespaceSelector {
        match_labels: BTreeMap::from([("tenant".into(), "shop".into())]),
        match_expressions: vec![SelectorRequirement {
            key: "tier".into(),
            operator: SelectorOperator::DoesNotExist,
            values: vec![],
        }],
    };
    // The plugin's own namespace is implied, not listed.
    assert_eq!(
        accepted(&objects, from(FromNamespaces::Selector, Some(shop))),
        Ok(AcceptNamespaces::Listed(vec!["team-b".into()]))
    );
    let bad = NamespaceSelector {
        match_expressions: vec![SelectorRequirement {
            key: "tier".into(),
            operator: SelectorOperator::In,
            values: vec![],
        }],
        ..NamespaceSelector::default()
    };
    let refused = accepted(&objects, from(FromNamespaces::Selector, Some(bad))).expect_err("bad");
    assert!(refused.contains("needs values"), "{refused}");
    let missing =
        accepted(&objects, from(FromNamespaces::Selector, None)).expect_err("no selector");
    assert!(missing.contains("selector exactly when"), "{missing}");
}

#[test]
fn incarnations_come_from_the_plugins_uid_and_the_secrets_uid_and_resource_version() {
    let mut objects = quickstart();
    let plugin = Arc::make_mut(&mut objects.plugins[0]);
    plugin.metadata.uid = Some("plugin-uid-1".into());
    let secret = Arc::make_mut(&mut objects.secrets[0]);
    secret.metadata.uid = Some("secret-uid".into());
    secret.metadata.resource_version = Some("41".into());
    let t = run(&objects);
    let plugin = t.snapshot.plugins.iter().find(|p| p.id == "default/oauth2");
    assert_eq!(plugin.map(|p| p.incarnation.as_str()), Some("plugin-uid-1"));
    assert_eq!(t.snapshot.credentials[0].incarnation, "secret-uid/41");
    // The same value written again is another installation of it.
    Arc::make_mut(&mut objects.secrets[0])
        .metadata
        .resource_version = Some("97".into());
    let again = run(&objects);
    assert_eq!(again.snapshot.credentials[0].incarnation, "secret-uid/97");
    assert_eq!(
        again.snapshot.credentials[0].secret_verifier,
        t.snapshot.credentials[0].secret_verifier
    );
}

#[test]
fn a_route_of_another_namespace_cannot_take_the_token_endpoint_of_an_older_one() {
    let mut objects = quickstart();
    let mut steal = route("steal", "/auth/oauth2", "oauth2", None);
    steal.metadata.namespace = Some("team-b".into());
    steal.spec.plugins.clear();
    objects.routes.push(Arc::new(steal));
    let t = run(&objects);
    let conflicts: Vec<(&str, &str)> = t
        .problems
        .iter()
        .filter(|p| p.reason == reason::ROUTE_CONFLICT)
        .map(|p| (p.namespace.as_str(), p.name.as_str()))
        .collect();
    assert_eq!(conflicts, [("team-b", "steal")]);
    assert!(t.snapshot.routes.iter().all(|r| r.id != "team-b/steal"));
    assert!(t.snapshot.routes.iter().any(|r| r.id == "default/auth"));
}
