//! The status of the Gateway API objects in a cluster, from the translation's computed status
//! (`translate::gateway_api::GatewayApiStatus`, the same standalone mode logs): pure functions
//! building what to write, deciding whether a write is needed, and merging an HTTPRoute's
//! `status.parents` with other controllers' entries. The writes are in `status_writer`.
//!
//! - GatewayClass and Gateway statuses are ours alone (their class names our controller): written
//!   by server-side apply under the controller's field manager.
//! - An HTTPRoute's `status.parents` is an atomic list shared by every controller whose Gateways
//!   the route names: only the entries with our `controllerName` for our Gateways are replaced,
//!   the others are kept as they are, and the whole list is written by a JSON merge patch
//!   carrying the `resourceVersion` it was computed from (a 409 re-reads and merges again).
//!
//! `lastTransitionTime` is kept while a condition's status stays; a write happens only when
//! something else differs.

use k8s_openapi::api::networking::v1::IngressLoadBalancerIngress;
use serde_json::{Value, json};

use crate::resources::gateway_api::{CONTROLLER_NAME, ParentRef};
use crate::translate::gateway_api::{Cond, GatewayReport, ParentReport, gw};

/// Reason of a Gateway's `Programmed: False` while the proxies have not acknowledged it.
pub const REASON_PENDING: &str = "Pending";

/// The conditions already stored under `conditions` of `previous` (empty when none).
fn previous_conditions(previous: Option<&Value>) -> &[Value] {
    previous
        .and_then(|p| p.get("conditions"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// One condition as the API stores it, its transition time kept from `previous` while its
/// status stays.
pub fn condition_json(c: &Cond, previous: &[Value], now: &str) -> Value {
    let status = if c.status { "True" } else { "False" };
    let since = previous
        .iter()
        .find(|p| p["type"] == c.type_ && p["status"] == status)
        .and_then(|p| p["lastTransitionTime"].as_str())
        .unwrap_or(now);
    let mut out = json!({
        "type": c.type_,
        "status": status,
        "reason": c.reason,
        "message": crate::operator::status::event_note(&c.message),
        "lastTransitionTime": since,
    });
    if let Some(generation) = c.observed_generation {
        out["observedGeneration"] = json!(generation);
    }
    out
}

fn conditions_json(conds: &[Cond], previous: &[Value], now: &str) -> Vec<Value> {
    conds
        .iter()
        .map(|c| condition_json(c, previous, now))
        .collect()
}

/// A GatewayClass's `status`.
pub fn class_status(conds: &[Cond], previous: Option<&Value>, now: &str) -> Value {
    json!({"conditions": conditions_json(conds, previous_conditions(previous), now)})
}

/// Most entries of a Gateway's `status.addresses` (the Gateway API's limit).
pub const MAX_GATEWAY_ADDRESSES: usize = 16;

/// A Gateway's `status.addresses` from the publish Service's addresses (see
/// `status_writer::published_addresses`: its load balancer's, else its external IPs, else its
/// cluster IP), as Envoy Gateway and the Kong Ingress Controller report them: an `IPAddress`
/// for each IP and a `Hostname` for each host name, at most [`MAX_GATEWAY_ADDRESSES`], each
/// value once.
pub fn gateway_addresses(published: &[IngressLoadBalancerIngress]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for entry in published {
        let typed = [
            ("IPAddress", entry.ip.as_deref()),
            ("Hostname", entry.hostname.as_deref()),
        ];
        for (kind, value) in typed {
            let Some(value) = value.filter(|v| !v.is_empty()) else {
                continue;
            };
            let address = json!({"type": kind, "value": value});
            if out.len() < MAX_GATEWAY_ADDRESSES && !out.contains(&address) {
                out.push(address);
            }
        }
    }
    out
}

/// A Gateway's `status`. `programmed`: every proxy replica acknowledged a snapshot built from
/// this generation; until then a `Programmed: True` of the translation is `False/Pending`.
/// `addresses`: its `status.addresses` ([`gateway_addresses`]), left out when empty (no publish
/// Service, or one without an address yet).
pub fn gateway_status(
    report: &GatewayReport,
    programmed: bool,
    addresses: &[Value],
    previous: Option<&Value>,
    now: &str,
) -> Value {
    let conds: Vec<Cond> = report
        .conditions
        .iter()
        .map(|c| {
            if c.type_ == gw::PROGRAMMED && c.status && !programmed {
                Cond {
                    status: false,
                    reason: REASON_PENDING,
                    message: "waiting for every proxy replica to acknowledge a snapshot with this generation".into(),
                    ..c.clone()
                }
            } else {
                c.clone()
            }
        })
        .collect();
    let previous_listeners = previous
        .and_then(|p| p.get("listeners"))
        .and_then(Value::as_array);
    let listeners: Vec<Value> = report
        .listeners
        .iter()
        .map(|l| {
            let before =
                previous_listeners.and_then(|ls| ls.iter().find(|p| p["name"] == l.name.as_str()));
            json!({
                "name": l.name,
                "supportedKinds": l.supported_kinds,
                "attachedRoutes": l.attached_routes,
                "conditions": conditions_json(&l.conditions, previous_conditions(before), now),
            })
        })
        .collect();
    let mut status = json!({
        "conditions": conditions_json(&conds, previous_conditions(previous), now),
        "listeners": listeners,
    });
    if !addresses.is_empty() {
        status["addresses"] = Value::Array(addresses.to_vec());
    }
    status
}

/// Whether `stored` lists addresses that `desired` leaves out (the publish Service lost them):
/// [`holds`] compares only what `desired` says, so this asks for the write whose apply, without
/// the field, clears it.
pub fn addresses_gone(stored: &Value, desired: &Value) -> bool {
    desired.get("addresses").is_none()
        && stored
            .get("addresses")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
}

/// `value` without any `lastTransitionTime`, for comparisons.
pub fn without_times(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "lastTransitionTime")
                .map(|(k, v)| (k.clone(), without_times(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_times).collect()),
        other => other.clone(),
    }
}

/// Whether `stored` already holds everything of `desired` (timestamps aside): every field of an
/// object; `conditions` matched by `type` and `listeners` by `name` (the API server's list-map
/// keys; other controllers' or defaulted entries of other keys do not count, but a listener we
/// no longer report does); other lists element by element.
pub fn holds(stored: &Value, desired: &Value) -> bool {
    match (stored, desired) {
        (Value::Object(s), Value::Object(d)) => d.iter().all(|(k, dv)| {
            k == "lastTransitionTime" || s.get(k).is_some_and(|sv| holds_field(k, sv, dv))
        }),
        (Value::Array(s), Value::Array(d)) => {
            s.len() == d.len() && s.iter().zip(d).all(|(sv, dv)| holds(sv, dv))
        }
        (s, d) => s == d,
    }
}

fn holds_field(key: &str, stored: &Value, desired: &Value) -> bool {
    let by = match key {
        "conditions" => "type",
        "listeners" => "name",
        _ => return holds(stored, desired),
    };
    let (Some(s), Some(d)) = (stored.as_array(), desired.as_array()) else {
        return holds(stored, desired);
    };
    if by == "name" && s.len() != d.len() {
        return false;
    }
    d.iter()
        .all(|dv| s.iter().any(|sv| sv[by] == dv[by] && holds(sv, dv)))
}

/// The first condition that is not `True` in `status` (conditions, then each listener's, or
/// each HTTPRoute parent's): what an Event reports.
pub fn first_failure(status: &Value) -> Option<(String, String)> {
    let failing = |conds: &Value| {
        conds.as_array().and_then(|cs| {
            cs.iter()
                .find(|c| {
                    // `Conflicted` is the one condition whose healthy status is False.
                    if c["type"] == gw::CONFLICTED {
                        c["status"] == "True"
                    } else {
                        c["status"] != "True" && c["reason"] != REASON_PENDING
                    }
                })
                .map(|c| {
                    (
                        c["reason"].as_str().unwrap_or_default().to_owned(),
                        c["message"].as_str().unwrap_or_default().to_owned(),
                    )
                })
        })
    };
    if let Some(parents) = status.as_array() {
        return parents.iter().find_map(|p| failing(&p["conditions"]));
    }
    failing(&status["conditions"]).or_else(|| {
        status["listeners"].as_array().and_then(|ls| {
            ls.iter().find_map(|l| {
                failing(&l["conditions"])
                    .map(|(reason, message)| (reason, format!("listener {}: {message}", l["name"])))
            })
        })
    })
}

/// Whether a `status.parents` entry (or a parentRef) is ours to write: our controller name and
/// a parent `mine` accepts.
fn ours(entry: &Value, mine: &dyn Fn(&ParentRef) -> bool) -> bool {
    entry["controllerName"] == CONTROLLER_NAME
        && serde_json::from_value::<ParentRef>(entry["parentRef"].clone())
            .is_ok_and(|parent| mine(&parent))
}

/// Our entries of an HTTPRoute's `status.parents`, transition times kept from `stored` (the
/// stored list, any controller's).
pub fn route_parents(reports: &[ParentReport], stored: &[Value], now: &str) -> Vec<Value> {
    reports
        .iter()
        .map(|report| {
            let parent_ref = serde_json::to_value(&report.parent_ref).unwrap_or(Value::Null);
            let before = stored
                .iter()
                .find(|e| e["controllerName"] == CONTROLLER_NAME && e["parentRef"] == parent_ref);
            json!({
                "parentRef": parent_ref,
                "controllerName": CONTROLLER_NAME,
                "conditions": conditions_json(&report.conditions, previous_conditions(before), now),
            })
        })
        .collect()
}

/// The entries of `stored` that are ours (see [`ours`]).
pub fn our_entries(stored: &[Value], mine: &dyn Fn(&ParentRef) -> bool) -> Vec<Value> {
    stored.iter().filter(|e| ours(e, mine)).cloned().collect()
}

/// The whole `status.parents` to write: `stored`'s entries that are not ours, in their order,
/// then `desired` (ours). At most 32 entries (the CRD's bound): ours are cut first.
pub fn merged_parents(
    stored: &[Value],
    desired: &[Value],
    mine: &dyn Fn(&ParentRef) -> bool,
) -> Vec<Value> {
    let mut out: Vec<Value> = stored.iter().filter(|e| !ours(e, mine)).cloned().collect();
    out.extend(desired.iter().cloned());
    out.truncate(MAX_PARENTS);
    out
}

/// `status.parents` holds at most this many entries.
pub const MAX_PARENTS: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::gateway_api::RouteGroupKind;
    use crate::translate::gateway_api::ListenerReport;

    const T0: &str = "2026-01-01T00:00:00Z";
    const T1: &str = "2026-01-02T00:00:00Z";

    fn cond(type_: &'static str, status: bool, reason: &'static str) -> Cond {
        Cond {
            type_,
            status,
            reason,
            message: String::new(),
            observed_generation: Some(3),
        }
    }

    fn parent(name: &str) -> ParentRef {
        ParentRef {
            group: Some("gateway.networking.k8s.io".into()),
            kind: Some("Gateway".into()),
            name: name.into(),
            ..ParentRef::default()
        }
    }

    fn report(name: &str, accepted: bool) -> ParentReport {
        ParentReport {
            parent_ref: parent(name),
            conditions: vec![
                cond(
                    gw::ACCEPTED,
                    accepted,
                    if accepted {
                        gw::ACCEPTED
                    } else {
                        gw::NOT_ALLOWED_BY_LISTENERS
                    },
                ),
                cond(gw::RESOLVED_REFS, true, gw::RESOLVED_REFS),
            ],
        }
    }

    #[test]
    fn other_controllers_entries_are_kept_and_ours_replaced() {
        let theirs = json!({"parentRef": {"name": "gw"}, "controllerName": "example.com/other",
                            "conditions": [{"type": "Accepted", "status": "True"}]});
        let stale = json!({"parentRef": parent("old"), "controllerName": CONTROLLER_NAME, "conditions": []});
        let stored = vec![theirs.clone(), stale];
        let desired = route_parents(&[report("gw", true)], &stored, T0);
        let all = |_: &ParentRef| true;
        let merged = merged_parents(&stored, &desired, &all);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0], theirs, "another controller's entry, untouched");
        assert_eq!(merged[1]["controllerName"], CONTROLLER_NAME);
        assert_eq!(merged[1]["parentRef"]["name"], "gw");
        assert_eq!(merged[1]["conditions"][0]["observedGeneration"], 3);
        // An entry for a Gateway another install serves is not ours to drop.
        let not_old = |p: &ParentRef| p.name != "old";
        assert_eq!(merged_parents(&stored, &desired, &not_old).len(), 3);
    }

    #[test]
    fn transition_times_stay_while_a_status_stays_and_a_rewrite_is_needed_only_on_change() {
        let first = route_parents(&[report("gw", false)], &[], T0);
        let again = route_parents(&[report("gw", false)], &first, T1);
        assert_eq!(again, first, "same statuses: same times");
        assert_eq!(
            without_times(&Value::Array(again)),
            without_times(&Value::Array(first.clone()))
        );
        let fixed = route_parents(&[report("gw", true)], &first, T1);
        assert_eq!(fixed[0]["conditions"][0]["lastTransitionTime"], T1);
        assert_eq!(
            fixed[0]["conditions"][1]["lastTransitionTime"], T0,
            "ResolvedRefs kept its status"
        );
        assert_ne!(
            without_times(&Value::Array(fixed)),
            without_times(&Value::Array(first.clone()))
        );
        assert_eq!(
            first_failure(&Value::Array(first)),
            Some((gw::NOT_ALLOWED_BY_LISTENERS.to_owned(), String::new()))
        );
    }

    fn gateway_report() -> GatewayReport {
        GatewayReport {
            conditions: vec![
                cond(gw::ACCEPTED, true, gw::ACCEPTED),
                cond(gw::PROGRAMMED, true, gw::PROGRAMMED),
            ],
            listeners: vec![ListenerReport {
                name: "http".into(),
                supported_kinds: vec![RouteGroupKind {
                    group: Some("gateway.networking.k8s.io".into()),
                    kind: "HTTPRoute".into(),
                }],
                attached_routes: 2,
                conditions: vec![
                    cond(gw::ACCEPTED, true, gw::ACCEPTED),
                    cond(gw::CONFLICTED, false, gw::NO_CONFLICTS),
                ],
            }],
        }
    }

    #[test]
    fn a_gateway_is_pending_until_the_proxies_acknowledge_it_and_defaults_do_not_force_writes() {
        let pending = gateway_status(&gateway_report(), false, &[], None, T0);
        assert_eq!(pending["conditions"][1]["status"], "False");
        assert_eq!(pending["conditions"][1]["reason"], REASON_PENDING);
        assert_eq!(first_failure(&pending), None, "pending is not a failure");
        let done = gateway_status(&gateway_report(), true, &[], Some(&pending), T1);
        assert_eq!(done["conditions"][1]["status"], "True");
        assert_eq!(done["conditions"][0]["lastTransitionTime"], T0);
        assert_eq!(done["listeners"][0]["attachedRoutes"], 2);
        // What the API server stores: ours, plus fields and conditions of other owners.
        let mut stored = done.clone();
        stored["addresses"] = json!([{"type": "IPAddress", "value": "10.0.0.1"}]);
        stored["conditions"]
            .as_array_mut()
            .expect("conditions")
            .push(json!({"type": "example.com/Other", "status": "True"}));
        assert!(holds(&stored, &without_times(&done)));
        assert!(!holds(
            &stored,
            &gateway_status(&gateway_report(), false, &[], None, T0)
        ));
        let mut extra_listener = stored.clone();
        extra_listener["listeners"]
            .as_array_mut()
            .expect("listeners")
            .push(json!({"name": "gone", "attachedRoutes": 0, "conditions": [], "supportedKinds": []}));
        assert!(
            !holds(&extra_listener, &done),
            "a listener we no longer report is removed"
        );
    }

    #[test]
    fn gateway_addresses_come_from_the_publish_services_addresses() {
        let entry = |ip: Option<&str>, hostname: Option<&str>| IngressLoadBalancerIngress {
            ip: ip.map(str::to_owned),
            hostname: hostname.map(str::to_owned),
            ports: None,
        };
        let addresses = gateway_addresses(&[
            entry(Some("203.0.113.7"), None),
            entry(None, Some("lb.example.com")),
            entry(Some("2001:db8::1"), Some("both.example.com")),
            entry(Some("203.0.113.7"), None),
            entry(Some(""), None),
        ]);
        assert_eq!(
            addresses,
            [
                json!({"type": "IPAddress", "value": "203.0.113.7"}),
                json!({"type": "Hostname", "value": "lb.example.com"}),
                json!({"type": "IPAddress", "value": "2001:db8::1"}),
                json!({"type": "Hostname", "value": "both.example.com"}),
            ]
        );
        let many: Vec<IngressLoadBalancerIngress> = (0..40)
            .map(|i| entry(Some(&format!("10.0.0.{i}")), None))
            .collect();
        assert_eq!(gateway_addresses(&many).len(), MAX_GATEWAY_ADDRESSES);

        let status = gateway_status(&gateway_report(), true, &addresses, None, T0);
        assert_eq!(status["addresses"].as_array().map(Vec::len), Some(4));
        assert_eq!(
            status["conditions"][1]["status"], "True",
            "Programmed as before"
        );
        assert!(holds(&status, &without_times(&status)));
        let moved = gateway_status(
            &gateway_report(),
            true,
            &gateway_addresses(&[entry(Some("198.51.100.1"), None)]),
            Some(&status),
            T1,
        );
        assert!(!holds(&status, &moved), "a new address is written");
        let none = gateway_status(&gateway_report(), true, &[], None, T0);
        assert!(none.get("addresses").is_none(), "{none}");
        // The Service lost its addresses: the stored ones are stale, and a write is due.
        assert!(
            holds(&moved, &without_times(&none)),
            "holds sees no difference"
        );
        assert!(addresses_gone(&moved, &none));
        assert!(!addresses_gone(&none, &none));
        assert!(!addresses_gone(&moved, &moved));
    }
}
