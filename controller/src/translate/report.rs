//! What both modes log about their translations, in one shape: each problem once when it appears
//! and once when it is resolved (fields `kind`, `namespace`, `name`, `reason`, `condition`,
//! `message`), and an unusable signing-keys Secret once while it stays the same (fields
//! `secret`, `error`), and each Service endpoint the backend address policy refuses once while
//! it stays refused (fields `namespace`, `name` of the route, `endpoint`, `reason`). The operator
//! also turns problems into status conditions and Events.

use std::collections::BTreeSet;

use super::RefusedEndpoint;
use super::keys::SigningKeysError;
use super::problem::{Problem, reason};

/// The problems, signing-key error and refused endpoints last logged.
#[derive(Debug, Default)]
pub struct ProblemLog {
    problems: BTreeSet<Problem>,
    keys_error: Option<SigningKeysError>,
    refused_endpoints: BTreeSet<RefusedEndpoint>,
}

/// What changed since the previous [`ProblemLog::update`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Problems that appeared.
    pub new: Vec<Problem>,
    /// Problems of the previous update that are gone.
    pub resolved: Vec<Problem>,
}

impl ProblemLog {
    /// Takes `current` as the problems of the latest translation; logs those that appeared and
    /// those that were resolved. `SecretHashing` is progress, not a problem to log: the
    /// credential is served as soon as its verifier is ready.
    pub fn update(&mut self, current: impl IntoIterator<Item = Problem>) -> Changes {
        let current: BTreeSet<Problem> = current.into_iter().collect();
        let changes = Changes {
            new: current.difference(&self.problems).cloned().collect(),
            resolved: self.problems.difference(&current).cloned().collect(),
        };
        for p in changes
            .new
            .iter()
            .filter(|p| p.reason != reason::SECRET_HASHING)
        {
            tracing::warn!(
                kind = %p.kind, namespace = %p.namespace, name = %p.name, reason = p.reason,
                condition = p.condition.as_str(), message = %p.message,
                "object left out of the configuration"
            );
        }
        for p in changes
            .resolved
            .iter()
            .filter(|p| p.reason != reason::SECRET_HASHING)
        {
            tracing::info!(
                kind = %p.kind, namespace = %p.namespace, name = %p.name, reason = p.reason,
                condition = p.condition.as_str(), message = %p.message,
                "problem resolved"
            );
        }
        self.problems = current;
        changes
    }

    /// Takes `current` as the Service endpoints the latest translation left out of their routes
    /// by the backend address policy; logs those not logged before at warn level. Returns them.
    pub fn refused_endpoints(&mut self, current: &[RefusedEndpoint]) -> Vec<RefusedEndpoint> {
        let current: BTreeSet<RefusedEndpoint> = current.iter().cloned().collect();
        let new: Vec<RefusedEndpoint> = current
            .difference(&self.refused_endpoints)
            .cloned()
            .collect();
        for e in &new {
            tracing::warn!(
                namespace = %e.namespace, name = %e.name, endpoint = %e.endpoint, reason = %e.reason,
                "Service endpoint left out of the route: the backend address policy refuses {}",
                e.reason
            );
        }
        self.refused_endpoints = current;
        new
    }

    /// Logs `error` unless it is the one already logged; the mode keeps its configuration.
    pub fn keys_unusable(&mut self, error: &SigningKeysError) {
        if self.keys_error.as_ref() != Some(error) {
            tracing::error!(
                secret = error.secret(), error = %error,
                "cannot use the signing keys; keeping the current configuration"
            );
            self.keys_error = Some(error.clone());
        }
    }

    /// The signing keys are usable (again).
    pub fn keys_usable(&mut self) {
        if let Some(error) = self.keys_error.take() {
            tracing::info!(secret = error.secret(), "signing keys usable again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::{Kind, ProblemCondition};

    fn problem(name: &str, reason: &'static str) -> Problem {
        Problem {
            kind: Kind::GatewayRoute,
            namespace: "default".into(),
            name: name.into(),
            condition: ProblemCondition::Accepted,
            reason,
            message: "m".into(),
        }
    }

    #[test]
    fn each_problem_is_reported_once_when_it_appears_and_once_when_it_is_resolved() {
        let mut log = ProblemLog::default();
        let a = problem("a", reason::INVALID_HOST);
        let b = problem("b", reason::INVALID_PATH);
        let first = log.update([a.clone(), b.clone()]);
        assert_eq!(first.new, [a.clone(), b.clone()]);
        assert!(log.update([a.clone(), b.clone()]) == Changes::default());
        let later = log.update([b]);
        assert_eq!(later.resolved, [a]);
        assert!(later.new.is_empty());
    }
}
