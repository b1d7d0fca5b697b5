//! Consumers → snapshot consumers. A consumer is dropped when its username or custom id cannot
//! be sent upstream as a header value.

use std::sync::Arc;

use tollgate_core::ids::consumer_id;
use tollgate_core::snapshot;

use super::index::NameIndex;
use super::problem::{Kind, ProblemCondition, reason};
use super::{Named, ObjectName, Problems, is_header_safe, object_id};
use crate::resources::ConsumerSpec;

/// The consumers of one translation: which exist, and which are accepted.
#[derive(Default)]
pub(crate) struct Consumers {
    existing: NameIndex<()>,
    accepted: NameIndex<snapshot::Consumer>,
}

/// What a reference to a consumer resolves to.
pub(crate) enum ConsumerLookup<'a> {
    Accepted(&'a snapshot::Consumer),
    NotAccepted,
    NotFound,
}

impl Consumers {
    /// The consumer `name` in `namespace`.
    pub(crate) fn lookup(&self, namespace: &str, name: &str) -> ConsumerLookup<'_> {
        match self.accepted.get(namespace, name) {
            Some(consumer) => ConsumerLookup::Accepted(consumer),
            None if self.existing.contains(namespace, name) => ConsumerLookup::NotAccepted,
            None => ConsumerLookup::NotFound,
        }
    }

    pub(crate) fn into_snapshot(self) -> Vec<snapshot::Consumer> {
        self.accepted.into_values().collect()
    }
}

pub(crate) fn translate<C: Named<Spec = ConsumerSpec>>(
    objects: &[Arc<C>],
    problems: &mut Problems,
) -> Consumers {
    let mut out = Consumers::default();
    for obj in objects {
        let at = ObjectName::of_named(obj.as_ref());
        let spec = obj.spec();
        out.existing.insert(&at.namespace, &at.name, ());
        let username = spec.username.clone().unwrap_or_else(|| at.name.clone());
        let mut ok = true;
        if !is_header_safe(&username) {
            ok = false;
            problems.push(
                Kind::Consumer,
                &at,
                ProblemCondition::Accepted,
                reason::INVALID_CONSUMER,
                "username must be non-empty visible ASCII (it is sent as X-Consumer-Username)",
            );
        }
        if let Some(custom_id) = &spec.custom_id
            && !is_header_safe(custom_id)
        {
            ok = false;
            problems.push(
                Kind::Consumer,
                &at,
                ProblemCondition::Accepted,
                reason::INVALID_CONSUMER,
                "customId must be non-empty visible ASCII (it is sent as X-Consumer-Custom-Id)",
            );
        }
        let mut groups = spec.groups.clone();
        if groups
            .iter()
            .any(|g| !is_header_safe(g) || g.contains([',', ' ']))
        {
            ok = false;
            problems.push(
                Kind::Consumer,
                &at,
                ProblemCondition::Accepted,
                reason::INVALID_CONSUMER,
                "groups must be visible ASCII without commas or spaces (they are sent as X-Consumer-Groups)",
            );
        }
        groups.sort();
        groups.dedup();
        if ok {
            let consumer = snapshot::Consumer {
                groups,
                id: object_id(obj.as_ref(), &at, consumer_id),
                object: at.path(),
                username,
                custom_id: spec.custom_id.clone(),
            };
            out.accepted.insert(&at.namespace, &at.name, consumer);
        }
    }
    out
}
