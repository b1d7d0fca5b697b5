//! Pure reading of EndpointSlices: the proxy replicas to push to, and the ready endpoints of
//! backend Services.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};

use super::stores::SERVICE_NAME_LABEL;
use crate::translate::{ServiceEndpoints, ServiceKey};

/// Port names preferred for the proxies' config endpoint when a slice lists several ports.
const ADMIN_PORT_NAMES: [&str; 2] = ["admin", "config"];

fn host_port(address: &str, port: i32) -> String {
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

fn terminating(e: &Endpoint) -> bool {
    e.conditions
        .as_ref()
        .and_then(|c| c.terminating)
        .unwrap_or(false)
}

fn ready(e: &Endpoint) -> bool {
    // An absent `ready` means ready (discovery.k8s.io/v1 semantics).
    e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true) && !terminating(e)
}

/// Every proxy replica's admin `host:port`, from the config Service's slices. Not-ready
/// endpoints are included on purpose (a proxy without config is not ready; the Service publishes
/// not-ready addresses); terminating ones are not.
pub fn proxy_targets(slices: &[Arc<EndpointSlice>]) -> BTreeSet<String> {
    let mut targets = BTreeSet::new();
    for slice in slices {
        let ports = slice.ports.as_deref().unwrap_or_default();
        let port = ports
            .iter()
            .find(|p| {
                p.name
                    .as_deref()
                    .is_some_and(|n| ADMIN_PORT_NAMES.contains(&n))
            })
            .or_else(|| ports.first())
            .and_then(|p| p.port);
        let Some(port) = port else { continue };
        for endpoint in slice.endpoints.iter().filter(|e| !terminating(e)) {
            for address in &endpoint.addresses {
                targets.insert(host_port(address, port));
            }
        }
    }
    targets
}

/// The ready endpoints of every backend Service port (sorted, de-duplicated `host:port`). A
/// Service port is matched to the slice port of the same name (EndpointSlices carry target ports,
/// named like the Service's ports); a Service without slices has every port with no endpoint;
/// without the Service in the cache, slice ports are used under their own numbers. An
/// `ExternalName` Service has its DNS name at each of its ports (the proxy resolves it and
/// judges the addresses by the backend address policy).
pub fn backend_endpoints(
    services: &[Arc<Service>],
    slices: &[Arc<EndpointSlice>],
) -> ServiceEndpoints {
    let mut by_service: BTreeMap<(String, String), Vec<&EndpointSlice>> = BTreeMap::new();
    for slice in slices {
        let ns = slice.metadata.namespace.clone().unwrap_or_default();
        let Some(svc) = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
        else {
            continue;
        };
        by_service.entry((ns, svc.clone())).or_default().push(slice);
    }
    let service_ports: BTreeMap<(String, String), Vec<(i32, String)>> = services
        .iter()
        .filter_map(|s| {
            let key = (s.metadata.namespace.clone()?, s.metadata.name.clone()?);
            let ports = s
                .spec
                .as_ref()?
                .ports
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|p| (p.port, p.name.clone().unwrap_or_default()))
                .collect();
            Some((key, ports))
        })
        .collect();
    for key in service_ports.keys() {
        by_service.entry(key.clone()).or_default();
    }
    let mut out = ServiceEndpoints::new();
    // An ExternalName Service stands for its DNS name at each of its ports.
    for s in services {
        let Some(spec) = s
            .spec
            .as_ref()
            .filter(|s| s.type_.as_deref() == Some("ExternalName"))
        else {
            continue;
        };
        let (Some(ns), Some(name), Some(external)) = (
            s.metadata.namespace.as_ref(),
            s.metadata.name.as_ref(),
            spec.external_name.as_deref().filter(|n| !n.is_empty()),
        ) else {
            continue;
        };
        by_service.remove(&(ns.clone(), name.clone()));
        for port in spec.ports.as_deref().unwrap_or_default() {
            let key = ServiceKey {
                namespace: ns.clone(),
                name: name.clone(),
                port: port.port,
            };
            out.insert(
                key,
                vec![host_port(external.trim_end_matches('.'), port.port)],
            );
        }
    }
    for ((ns, svc), slices) in by_service {
        // Service port → the slice port name it maps to.
        let wanted: Vec<(i32, Option<String>)> = match service_ports.get(&(ns.clone(), svc.clone()))
        {
            Some(ports) => ports
                .iter()
                .map(|(port, name)| (*port, Some(name.clone())))
                .collect(),
            None => slices
                .iter()
                .flat_map(|s| s.ports.as_deref().unwrap_or_default())
                .filter_map(|p| p.port.map(|n| (n, None)))
                .collect(),
        };
        for (service_port, name) in wanted {
            let mut endpoints = BTreeSet::new();
            for slice in &slices {
                let ports = slice.ports.as_deref().unwrap_or_default();
                let matches = |p: &&EndpointPort| match &name {
                    Some(name) => p.name.as_deref().unwrap_or_default() == name,
                    None => p.port == Some(service_port),
                };
                let Some(target) = ports.iter().find(matches).and_then(|p| p.port) else {
                    continue;
                };
                for endpoint in slice.endpoints.iter().filter(|e| ready(e)) {
                    for address in &endpoint.addresses {
                        endpoints.insert(host_port(address, target));
                    }
                }
            }
            let key = ServiceKey {
                namespace: ns.clone(),
                name: svc.clone(),
                port: service_port,
            };
            out.insert(key, endpoints.into_iter().collect());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(ns: &str, name: &str, port: i32) -> ServiceKey {
        ServiceKey {
            namespace: ns.into(),
            name: name.into(),
            port,
        }
    }

    fn slice(
        ns: &str,
        svc: &str,
        ports: serde_json::Value,
        endpoints: serde_json::Value,
    ) -> Arc<EndpointSlice> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                "metadata": {"name": format!("{svc}-x"), "namespace": ns, "labels": {SERVICE_NAME_LABEL: svc}},
                "ports": ports, "endpoints": endpoints,
            }))
            .expect("slice"),
        )
    }

    fn service(ns: &str, name: &str, ports: serde_json::Value) -> Arc<Service> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": ns}, "spec": {"ports": ports},
            }))
            .expect("service"),
        )
    }

    #[test]
    fn proxy_targets_include_not_ready_but_not_terminating_replicas() {
        let slices = [
            slice(
                "tollgate",
                "proxy-config",
                json!([{"name": "admin", "port": 8100}]),
                json!([
                    {"addresses": ["10.0.0.1"], "conditions": {"ready": true}},
                    {"addresses": ["10.0.0.2"], "conditions": {"ready": false}},
                    {"addresses": ["10.0.0.3"], "conditions": {"ready": false, "terminating": true}},
                ]),
            ),
            slice(
                "tollgate",
                "proxy-config",
                json!([{"port": 9100}]),
                json!([{"addresses": ["fd00::1"]}]),
            ),
        ];
        let targets: Vec<String> = proxy_targets(&slices).into_iter().collect();
        assert_eq!(
            targets,
            ["10.0.0.1:8100", "10.0.0.2:8100", "[fd00::1]:9100"]
        );
    }

    #[test]
    fn a_service_port_resolves_to_ready_endpoints_on_the_target_port() {
        let services = [service(
            "app",
            "web",
            json!([{"name": "http", "port": 80, "targetPort": 8080}]),
        )];
        let slices = [slice(
            "app",
            "web",
            json!([{"name": "http", "port": 8080}]),
            json!([
                {"addresses": ["10.1.0.2"], "conditions": {"ready": true}},
                {"addresses": ["10.1.0.1"]},
                {"addresses": ["10.1.0.9"], "conditions": {"ready": false}},
            ]),
        )];
        let resolved = backend_endpoints(&services, &slices);
        assert_eq!(
            resolved.get(&key("app", "web", 80)),
            Some(&vec![
                "10.1.0.1:8080".to_owned(),
                "10.1.0.2:8080".to_owned()
            ])
        );
        assert!(!resolved.contains_key(&key("app", "web", 8080)));
    }

    #[test]
    fn without_the_service_slice_ports_are_used_by_number() {
        let slices = [slice(
            "app",
            "web",
            json!([{"port": 8080}]),
            json!([{"addresses": ["10.1.0.1"]}]),
        )];
        let resolved = backend_endpoints(&[], &slices);
        assert_eq!(
            resolved.get(&key("app", "web", 8080)),
            Some(&vec!["10.1.0.1:8080".to_owned()])
        );
    }

    #[test]
    fn a_service_without_ready_endpoints_resolves_to_none() {
        let services = [service("app", "web", json!([{"port": 80}]))];
        let slices = [slice(
            "app",
            "web",
            json!([{"port": 80}]),
            json!([{"addresses": ["10.1.0.1"], "conditions": {"ready": false}}]),
        )];
        assert_eq!(
            backend_endpoints(&services, &slices).get(&key("app", "web", 80)),
            Some(&vec![])
        );
    }

    #[test]
    fn a_service_without_slices_is_known_but_empty_and_an_unknown_one_is_absent() {
        let services = [service("app", "web", json!([{"name": "http", "port": 80}]))];
        let resolved = backend_endpoints(&services, &[]);
        assert_eq!(resolved.get(&key("app", "web", 80)), Some(&vec![]));
        assert!(!resolved.contains_key(&key("app", "other", 80)));
    }

    #[test]
    fn an_external_name_service_stands_for_its_name_at_each_port() {
        let service: Arc<Service> = Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": "partner", "namespace": "ns"},
                "spec": {"type": "ExternalName", "externalName": "api.partner.example.",
                         "ports": [{"port": 443}, {"port": 80}]}
            }))
            .expect("service"),
        );
        let out = backend_endpoints(&[service], &[]);
        assert_eq!(out[&key("ns", "partner", 443)], ["api.partner.example:443"]);
        assert_eq!(out[&key("ns", "partner", 80)], ["api.partner.example:80"]);
    }
}
