//! Pure status logic: the desired `status` of an object from its problems and whether every proxy
//! serves it, the comparison that decides whether a write is needed, the server-side-apply body,
//! and the Events a change deserves (transitions only).

use serde_json::{Value, json};

pub use crate::translate::ProblemCondition;

use crate::resources::status::{
    CONDITION_ACCEPTED, CONDITION_PROGRAMMED, CONDITION_RESOLVED_REFS, Condition, ConditionStatus,
    ObjectStatus,
};

/// The one field manager every status write uses (server-side apply).
pub const FIELD_MANAGER: &str = "tollgate-controller";

/// Reason of `Accepted=True`.
pub const REASON_ACCEPTED: &str = "Accepted";
/// Reason of `ResolvedRefs=True`.
pub const REASON_RESOLVED_REFS: &str = "ResolvedRefs";
/// Reason of `Programmed=True`: every proxy replica acknowledged a snapshot containing the object.
pub const REASON_PROGRAMMED: &str = "Programmed";
/// Reason of `Programmed=False` while the snapshot is on its way to the proxies.
pub const REASON_PENDING: &str = "Pending";

/// Event reason when an object becomes served by every proxy replica.
pub const EVENT_PROGRAMMED: &str = "Programmed";
/// Event action for every event this controller emits.
pub const EVENT_ACTION_RECONCILE: &str = "Reconcile";

/// A problem that keeps an object out of the snapshot (from the translation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectProblem {
    pub condition: ProblemCondition,
    /// A CamelCase constant such as `SecretNotFound` (`crate::translate::reason`).
    pub reason: String,
    /// Human-readable; never contains secret material.
    pub message: String,
}

/// Whether the proxies serve an object that has no problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Programming {
    /// Every proxy replica acknowledged a snapshot containing this generation.
    /// Every proxy replica acknowledged it. No replica count: the message stays the same
    /// through rollouts and scaling, so they rewrite no status.
    Programmed,
    /// Not yet (or no proxy replica is known); the message says which.
    Pending(String),
}

/// Condition type on an OAuth2Credential whose client secret the controller generated.
pub const CONDITION_SECRET_GENERATED: &str = "SecretGenerated";

/// The `SecretGenerated` condition: True (reason `Generated`) once written, False (reason
/// `GenerationRefused`) when the write was refused; its transition time kept from `current`
/// while its status stays.
pub fn generated_condition(
    done: bool,
    message: &str,
    generation: Option<i64>,
    current: Option<&ObjectStatus>,
    now: &str,
) -> Condition {
    let status = if done {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    let since = current
        .and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == CONDITION_SECRET_GENERATED)
        })
        .filter(|c| c.status == status)
        .map_or_else(|| now.to_owned(), |c| c.last_transition_time.clone());
    Condition {
        type_: CONDITION_SECRET_GENERATED.to_owned(),
        status,
        reason: if done {
            "Generated"
        } else {
            "GenerationRefused"
        }
        .to_owned(),
        message: message.to_owned(),
        last_transition_time: since,
        observed_generation: generation,
    }
}

/// The status the object should have. `lastTransitionTime` is kept from `current` for every
/// condition whose status did not change, and set to `now` otherwise.
pub fn desired_status(
    generation: Option<i64>,
    problems: &[ObjectProblem],
    programming: &Programming,
    current: Option<&ObjectStatus>,
    now: &str,
) -> ObjectStatus {
    let verdict = |which: ProblemCondition, ok_reason: &str| -> (ConditionStatus, String, String) {
        let mine: Vec<&ObjectProblem> = problems.iter().filter(|p| p.condition == which).collect();
        match mine.first() {
            None => (ConditionStatus::True, ok_reason.to_owned(), String::new()),
            Some(first) => (
                ConditionStatus::False,
                first.reason.clone(),
                join_messages(&mine),
            ),
        }
    };
    let (accepted, acc_reason, acc_message) = verdict(ProblemCondition::Accepted, REASON_ACCEPTED);
    let (resolved, res_reason, res_message) =
        verdict(ProblemCondition::ResolvedRefs, REASON_RESOLVED_REFS);
    let (programmed, prog_reason, prog_message) = match (problems.first(), programming) {
        (Some(first), _) => (
            ConditionStatus::False,
            first.reason.clone(),
            format!(
                "not served: {}",
                join_messages(&problems.iter().collect::<Vec<_>>())
            ),
        ),
        (None, Programming::Programmed) => (
            ConditionStatus::True,
            REASON_PROGRAMMED.to_owned(),
            "served by every proxy replica".to_owned(),
        ),
        (None, Programming::Pending(message)) => (
            ConditionStatus::False,
            REASON_PENDING.to_owned(),
            message.clone(),
        ),
    };
    let condition = |type_: &str, status: ConditionStatus, reason: String, message: String| {
        let since = current
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
            .filter(|c| c.status == status)
            .map_or_else(|| now.to_owned(), |c| c.last_transition_time.clone());
        Condition {
            type_: type_.to_owned(),
            status,
            reason,
            message,
            last_transition_time: since,
            observed_generation: generation,
        }
    };
    ObjectStatus {
        observed_generation: generation,
        conditions: vec![
            condition(CONDITION_ACCEPTED, accepted, acc_reason, acc_message),
            condition(CONDITION_RESOLVED_REFS, resolved, res_reason, res_message),
            condition(CONDITION_PROGRAMMED, programmed, prog_reason, prog_message),
        ],
    }
}

fn join_messages(problems: &[&ObjectProblem]) -> String {
    let parts: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
    parts.join("; ")
}

/// Whether `desired` differs from `current` in anything but timestamps (and condition order).
pub fn needs_write(current: Option<&ObjectStatus>, desired: &ObjectStatus) -> bool {
    match current {
        None => true,
        Some(current) => normalized(current) != normalized(desired),
    }
}

fn normalized(status: &ObjectStatus) -> ObjectStatus {
    let mut s = status.clone();
    for c in &mut s.conditions {
        c.last_transition_time.clear();
    }
    s.conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
    s
}

/// The server-side-apply body for the `/status` subresource.
pub fn apply_body(api_version: &str, kind: &str, status: &ObjectStatus) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "status": status,
    })
}

/// The API server refuses an Event whose note is longer than this (bytes).
pub const MAX_EVENT_NOTE_BYTES: usize = 1024;

/// `note` cut to [`MAX_EVENT_NOTE_BYTES`] on a character boundary, with an ellipsis when cut:
/// notes embed user values (names, hosts, paths), and an over-long one would lose the Event.
pub fn event_note(note: &str) -> String {
    if note.len() <= MAX_EVENT_NOTE_BYTES {
        return note.to_owned();
    }
    const ELLIPSIS: &str = "…";
    let mut end = MAX_EVENT_NOTE_BYTES - ELLIPSIS.len();
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ELLIPSIS}", &note[..end])
}

/// An Event to publish about an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSpec {
    pub warning: bool,
    pub reason: String,
    pub note: String,
}

/// Events for the transitions from `current` to `desired`: `Programmed` when the object becomes
/// served, a Warning with the problem's reason when a problem appears or changes. Nothing for
/// unchanged conditions or for `Pending`, so a steady state emits no Events.
pub fn transition_events(current: Option<&ObjectStatus>, desired: &ObjectStatus) -> Vec<EventSpec> {
    let find = |s: Option<&ObjectStatus>, type_: &str| -> Option<(ConditionStatus, String)> {
        s.and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
            .map(|c| (c.status, c.reason.clone()))
    };
    let Some(programmed) = desired
        .conditions
        .iter()
        .find(|c| c.type_ == CONDITION_PROGRAMMED)
    else {
        return Vec::new();
    };
    let before = find(current, CONDITION_PROGRAMMED);
    let now = (programmed.status, programmed.reason.clone());
    if before.as_ref() == Some(&now) {
        return Vec::new();
    }
    match programmed.status {
        ConditionStatus::True => vec![EventSpec {
            warning: false,
            reason: EVENT_PROGRAMMED.to_owned(),
            note: event_note(&programmed.message),
        }],
        _ if programmed.reason == REASON_PENDING => Vec::new(),
        _ => vec![EventSpec {
            warning: true,
            reason: programmed.reason.clone(),
            note: event_note(&programmed.message),
        }],
    }
}

/// RFC 3339 in whole seconds, as `metav1.Time` serializes.
pub fn rfc3339_now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_notes_fit_the_api_limit_and_are_cut_on_a_character_boundary() {
        assert_eq!(event_note("short"), "short");
        let exact = "a".repeat(MAX_EVENT_NOTE_BYTES);
        assert_eq!(event_note(&exact), exact);
        for long in [
            "x".repeat(5000),
            "é".repeat(3000),
            format!("a{}", "日".repeat(2000)),
        ] {
            let note = event_note(&long);
            assert!(note.len() <= MAX_EVENT_NOTE_BYTES, "{} bytes", note.len());
            assert!(note.ends_with('…'));
            assert!(long.starts_with(note.trim_end_matches('…')));
        }
    }

    const T0: &str = "2026-01-01T00:00:00Z";
    const T1: &str = "2026-01-01T00:05:00Z";

    fn problem(condition: ProblemCondition, reason: &str) -> ObjectProblem {
        ObjectProblem {
            condition,
            reason: reason.to_owned(),
            message: format!("{reason} happened"),
        }
    }

    fn cond<'a>(s: &'a ObjectStatus, type_: &str) -> &'a Condition {
        s.conditions
            .iter()
            .find(|c| c.type_ == type_)
            .expect("condition present")
    }

    #[test]
    fn every_problem_kind_falsifies_its_condition_and_programmed_with_its_reason() {
        use ProblemCondition::{Accepted, ResolvedRefs};
        let table = [
            (
                ResolvedRefs,
                "SecretNotFound",
                ConditionStatus::True,
                ConditionStatus::False,
            ),
            (
                ResolvedRefs,
                "SecretKeyNotFound",
                ConditionStatus::True,
                ConditionStatus::False,
            ),
            (
                ResolvedRefs,
                "ConsumerNotFound",
                ConditionStatus::True,
                ConditionStatus::False,
            ),
            (
                ResolvedRefs,
                "PluginNotFound",
                ConditionStatus::True,
                ConditionStatus::False,
            ),
            (
                ResolvedRefs,
                "ServiceNotFound",
                ConditionStatus::True,
                ConditionStatus::False,
            ),
            (
                Accepted,
                "DuplicateClientId",
                ConditionStatus::False,
                ConditionStatus::True,
            ),
            (
                Accepted,
                "InvalidPath",
                ConditionStatus::False,
                ConditionStatus::True,
            ),
            (
                Accepted,
                "PluginTypeMismatch",
                ConditionStatus::False,
                ConditionStatus::True,
            ),
        ];
        for (which, reason, accepted, resolved) in table {
            let s = desired_status(
                Some(3),
                &[problem(which, reason)],
                &Programming::Programmed,
                None,
                T0,
            );
            assert_eq!(cond(&s, CONDITION_ACCEPTED).status, accepted, "{reason}");
            assert_eq!(
                cond(&s, CONDITION_RESOLVED_REFS).status,
                resolved,
                "{reason}"
            );
            let programmed = cond(&s, CONDITION_PROGRAMMED);
            assert_eq!(programmed.status, ConditionStatus::False, "{reason}");
            assert_eq!(programmed.reason, reason);
            assert!(programmed.message.contains("not served"), "{reason}");
            assert_eq!(s.observed_generation, Some(3));
        }
    }

    #[test]
    fn an_object_without_problems_is_programmed_once_every_replica_acknowledged() {
        let pending = desired_status(
            Some(1),
            &[],
            &Programming::Pending("2 of 3".into()),
            None,
            T0,
        );
        assert_eq!(cond(&pending, CONDITION_PROGRAMMED).reason, REASON_PENDING);
        assert_eq!(
            cond(&pending, CONDITION_ACCEPTED).status,
            ConditionStatus::True
        );
        let done = desired_status(Some(1), &[], &Programming::Programmed, None, T0);
        assert_eq!(
            cond(&done, CONDITION_PROGRAMMED).status,
            ConditionStatus::True
        );
    }

    #[test]
    fn transition_time_is_kept_while_a_condition_keeps_its_status() {
        let first = desired_status(Some(1), &[], &Programming::Programmed, None, T0);
        let again = desired_status(Some(2), &[], &Programming::Programmed, Some(&first), T1);
        assert_eq!(cond(&again, CONDITION_PROGRAMMED).last_transition_time, T0);
        let broken = problem(ProblemCondition::ResolvedRefs, "SecretNotFound");
        let changed = desired_status(
            Some(2),
            &[broken],
            &Programming::Programmed,
            Some(&first),
            T1,
        );
        assert_eq!(
            cond(&changed, CONDITION_PROGRAMMED).last_transition_time,
            T1
        );
        assert_eq!(cond(&changed, CONDITION_ACCEPTED).last_transition_time, T0);
    }

    #[test]
    fn only_timestamps_differing_needs_no_write() {
        let a = desired_status(Some(1), &[], &Programming::Programmed, None, T0);
        let mut b = desired_status(Some(1), &[], &Programming::Programmed, None, T1);
        assert!(!needs_write(Some(&a), &b));
        b.conditions.reverse();
        assert!(!needs_write(Some(&a), &b));
        let c = desired_status(Some(2), &[], &Programming::Programmed, None, T0);
        assert!(needs_write(Some(&a), &c), "a new generation is a change");
        assert!(needs_write(None, &a));
    }

    #[test]
    fn events_fire_on_transitions_only() {
        let pending = desired_status(
            Some(1),
            &[],
            &Programming::Pending("waiting".into()),
            None,
            T0,
        );
        assert!(
            transition_events(None, &pending).is_empty(),
            "pending is not news"
        );
        let done = desired_status(Some(1), &[], &Programming::Programmed, Some(&pending), T0);
        let events = transition_events(Some(&pending), &done);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].reason, EVENT_PROGRAMMED);
        assert!(!events[0].warning);
        assert!(transition_events(Some(&done), &done).is_empty());
        let broken = desired_status(
            Some(2),
            &[problem(ProblemCondition::ResolvedRefs, "SecretNotFound")],
            &Programming::Programmed,
            Some(&done),
            T1,
        );
        let events = transition_events(Some(&done), &broken);
        assert_eq!(events.len(), 1);
        assert!(events[0].warning);
        assert_eq!(events[0].reason, "SecretNotFound");
    }

    #[test]
    fn apply_body_names_the_kind_and_carries_only_status() {
        let s = desired_status(Some(4), &[], &Programming::Programmed, None, T0);
        let body = apply_body("tollgate.dev/v1alpha1", "Consumer", &s);
        assert_eq!(body["apiVersion"], "tollgate.dev/v1alpha1");
        assert_eq!(body["kind"], "Consumer");
        assert_eq!(body["status"]["observedGeneration"], 4);
        assert_eq!(body["status"]["conditions"][2]["type"], "Programmed");
        assert!(body.get("spec").is_none());
    }

    #[test]
    fn the_secret_generated_condition_says_done_or_refused_and_keeps_its_time() {
        let refused = generated_condition(false, "forbidden", Some(1), None, T0);
        assert_eq!(
            (refused.status, refused.reason.as_str()),
            (ConditionStatus::False, "GenerationRefused")
        );
        let current = ObjectStatus {
            observed_generation: Some(1),
            conditions: vec![refused],
        };
        let again = generated_condition(false, "forbidden", Some(1), Some(&current), T1);
        assert_eq!(
            again.last_transition_time, T0,
            "unchanged status: time kept"
        );
        let done = generated_condition(true, "written", Some(2), Some(&current), T1);
        assert_eq!(
            (
                done.status,
                done.reason.as_str(),
                done.last_transition_time.as_str()
            ),
            (ConditionStatus::True, "Generated", T1)
        );
    }

    #[test]
    fn rfc3339_now_is_whole_seconds_utc() {
        let now = rfc3339_now();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.ends_with('Z'));
    }
}
