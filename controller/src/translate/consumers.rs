//! Consumers → snapshot consumers. A consumer is dropped when its username or custom id cannot
//! be sent upstream as a header value.

use std::sync::Arc;

use tollgate_core::ids::consumer_id;
use tollgate_core::snapshot;

use super::index::NameIndex;
use super::problem::{Kind, ProblemCondition, reason};
use super::{Named, ObjectName, Problems, is_header_safe, namespace_and_name, object_id};
use crate::resources::ConsumerSpec;

/// The consumers of one translation, by the namespace and name of their objects: `None` for
/// one that exists but is not accepted.
#[derive(Default)]
pub(crate) struct Consumers<'k> {
    by_name: NameIndex<'k, Option<snapshot::Consumer>>,
}

/// What a reference to a consumer resolves to.
pub(crate) enum ConsumerLookup<'a> {
    Accepted(&'a snapshot::Consumer),
    NotAccepted,
    NotFound,
}

impl Consumers<'_> {
    /// The consumer `name` in `namespace`.
    pub(crate) fn lookup(&self, namespace: &str, name: &str) -> ConsumerLookup<'_> {
        match self.by_name.get(namespace, name) {
            Some(Some(consumer)) => ConsumerLookup::Accepted(consumer),
            Some(None) => ConsumerLookup::NotAccepted,
            None => ConsumerLookup::NotFound,
        }
    }

    pub(crate) fn into_snapshot(self) -> Vec<snapshot::Consumer> {
        self.by_name.into_values().flatten().collect()
    }
}

pub(crate) fn translate<'o, C: Named<Spec = ConsumerSpec>>(
    objects: &'o [Arc<C>],
    problems: &mut Problems,
) -> Consumers<'o> {
    let mut out = Consumers::default();
    for obj in objects {
        let (namespace, name) = namespace_and_name(obj.as_ref());
        let spec = obj.spec();
        let username = spec.username.as_deref().unwrap_or(name);
        let mut ok = true;
        let mut report = |message: &'static str| {
            ok = false;
            problems.push(
                Kind::Consumer,
                &ObjectName::of_named(obj.as_ref()),
                ProblemCondition::Accepted,
                reason::INVALID_CONSUMER,
                message,
            );
        };
        if !is_header_safe(username) {
            report("username must be non-empty visible ASCII (it is sent as X-Consumer-Username)");
        }
        if let Some(custom_id) = &spec.custom_id
            && !is_header_safe(custom_id)
        {
            report("customId must be non-empty visible ASCII (it is sent as X-Consumer-Custom-Id)");
        }
        if spec
            .groups
            .iter()
            .any(|g| !is_header_safe(g) || g.contains([',', ' ']))
        {
            report(
                "groups must be visible ASCII without commas or spaces (they are sent as X-Consumer-Groups)",
            );
        }
        let consumer = ok.then(|| {
            let mut groups = spec.groups.clone();
            groups.sort();
            groups.dedup();
            let at = ObjectName {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            };
            snapshot::Consumer {
                groups,
                id: object_id(obj.as_ref(), &at, consumer_id),
                object: at.path(),
                username: username.to_owned(),
                custom_id: spec.custom_id.clone(),
            }
        });
        out.by_name.insert(namespace, name, consumer);
    }
    out
}
