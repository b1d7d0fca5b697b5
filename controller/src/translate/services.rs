//! A Service port → a snapshot backend, shared by the GatewayRoute, Ingress and HTTPRoute
//! translations: the Service's ready endpoints, each judged by the backend address policy.

use std::net::SocketAddr;

use tollgate_core::address::AddressPolicy;
use tollgate_core::snapshot;

use super::{ObjectName, RefusedEndpoint, ServiceEndpoints, ServiceKey};

/// Where a route's Service backend may go: the Service endpoints known and the address policy.
#[derive(Clone, Copy)]
pub(crate) struct ServiceBackends<'a> {
    pub services: &'a ServiceEndpoints,
    pub policy: &'a AddressPolicy,
}

impl ServiceBackends<'_> {
    /// The plain-HTTP backend of the Service port `key` for the route `at`, or `None` when that
    /// Service (or port) is not known. Its endpoints are those the policy allows; each refused
    /// one is recorded in `refused` under `at` and left out (the route is served with the
    /// others). Names (ExternalName Services) are judged by the proxy once resolved.
    pub(crate) fn backend(
        &self,
        key: &ServiceKey,
        at: &ObjectName,
        refused: &mut Vec<RefusedEndpoint>,
        connect_timeout_ms: u64,
        read_timeout_ms: u64,
    ) -> Option<snapshot::Backend> {
        let endpoints = self.services.get(key)?;
        let mut allowed = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            match endpoint.parse::<SocketAddr>().map(|a| self.policy.judge(a)) {
                Ok(Err(refusal)) => refused.push(RefusedEndpoint {
                    namespace: at.namespace.clone(),
                    name: at.name.clone(),
                    endpoint: endpoint.clone(),
                    reason: refusal.to_string(),
                }),
                _ => allowed.push(endpoint.clone()),
            }
        }
        Some(snapshot::Backend {
            scheme: "http".into(),
            path: String::new(),
            host_header: None,
            endpoints: allowed,
            connect_timeout_ms,
            read_timeout_ms,
        })
    }
}
