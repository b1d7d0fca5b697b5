//! The semantics of the Gateway API conformance suite's HTTPRoute cases, in standalone mode
//! through the shipped binary, as one table of requests and expected answers run on both server
//! paths. Manifests and assertions are the project's own; each case keeps the upstream case's
//! requests and expectations (which backend answers, status, headers, `Location`).
//!
//! Three httpbin processes play the suite's `infra-backend-v1/v2/v3` (v1 is the Service
//! `httpbin` of the shared fixture, v2 and v3 the Services `backend-v2` and `backend-v3`). Each
//! echoes a tag header of its own (`Httpbin::start_tagged`), which names the backend that
//! answered, as the suite's echo server names its pod. As the suite expects, every backend sees
//! the client's `Host` (HTTPRoutes preserve it) unless a URL rewrite sets another. httpbin answers `/anything/...` only, so the suite's `/` becomes
//! `/anything` and its `/v2` becomes `/anything/v2`: same prefixes, same segment boundaries.
//! `docs/gateway-api.md` maps each upstream case to the test that mirrors it.

use super::gateway_api::start_tagged;
use super::support::{Fixture, loopback_service};
use http::Method;
use tollgate_e2e::client::Response;
use tollgate_e2e::fixture::echoed_headers;
use tollgate_e2e::httpbin::{BACKEND_TAG, Httpbin};
use tollgate_e2e::workdir::WorkDir;

/// Beside the Services `backend-v2` and `backend-v3` (each a selector-less Service with its own
/// httpbin, see [`Conformance::start`]): `backend-v2` may be referred to from namespace `team` (a
/// ReferenceGrant naming it alone), and two more Gateways for the hostname cases.
const BACKENDS: &str = "\
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: team-to-v2, namespace: default}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: team}]
  to: [{group: '', kind: Service, name: backend-v2}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: intersection}
spec:
  gatewayClassName: tollgate
  listeners:
  - {name: specific, protocol: HTTP, port: 80, hostname: very.specific.test}
  - {name: wildcard, protocol: HTTP, port: 80, hostname: '*.wildcard.test'}
  - {name: another, protocol: HTTP, port: 80, hostname: '*.anotherwildcard.test'}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: listeners}
spec:
  gatewayClassName: tollgate
  listeners:
  - {name: bar, protocol: HTTP, port: 80, hostname: bar.test}
  - {name: foo-bar, protocol: HTTP, port: 80, hostname: foo.bar.test}
  - {name: any-bar, protocol: HTTP, port: 80, hostname: '*.bar.test'}
  - {name: any-foo, protocol: HTTP, port: 80, hostname: '*.foo.test'}
";

/// One HTTPRoute (or a few) per upstream case, each on its own hostname so the cases cannot
/// match each other's requests.
const ROUTES: &str = "\
# HTTPRouteMatching: path prefixes on segment boundaries, and a header match outranking an
# equal prefix without one.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: matching}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [matching.example.test]
  rules:
  - matches:
    - {path: {type: PathPrefix, value: /anything}}
    - {path: {type: PathPrefix, value: /anything}, headers: [{name: version, value: one}]}
    backendRefs: [{name: httpbin, port: 80}]
  - matches:
    - {path: {type: PathPrefix, value: /anything/v2}}
    - {path: {type: PathPrefix, value: /anything}, headers: [{name: version, value: two}]}
    backendRefs: [{name: backend-v2, port: 8080}]
---
# HTTPRouteMatchingAcrossRoutes: precedence is decided across routes sharing a hostname; a
# route's matches apply only to its own hostnames.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: across-1}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [across.example.test, across-other.example.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /anything}}]
    backendRefs: [{name: httpbin, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: across-2}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [across.example.test]
  rules:
  - matches:
    - {path: {type: PathPrefix, value: /anything/v2}}
    - {path: {type: PathPrefix, value: /anything}, headers: [{name: version, value: two}]}
    backendRefs: [{name: backend-v2, port: 8080}]
---
# HTTPRoutePathMatchOrder: Exact, then the longest prefix, then method, then the most header
# matches, then the most query parameter matches.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: order}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [order.example.test]
  rules:
  - matches: [{path: {type: Exact, value: /anything/match}}]
    backendRefs: [{name: httpbin, port: 80}]
  - matches: [{path: {type: Exact, value: /anything/match/exact}}]
    backendRefs: [{name: backend-v2, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /anything/match}}]
    backendRefs: [{name: backend-v3, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /anything/match/prefix}}]
    backendRefs: [{name: backend-v2, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /anything/match/prefix/one}}]
    backendRefs: [{name: httpbin, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /anything/match}, method: POST}]
    backendRefs: [{name: httpbin, port: 80}]
  - matches:
    - path: {type: PathPrefix, value: /anything/match}
      headers: [{name: a, value: '1'}]
    backendRefs: [{name: backend-v2, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /anything/match}
      headers: [{name: a, value: '1'}, {name: b, value: '2'}]
    backendRefs: [{name: httpbin, port: 80}]
  - matches:
    - path: {type: PathPrefix, value: /anything/match}
      queryParams: [{name: q, value: '1'}]
    backendRefs: [{name: httpbin, port: 80}]
  - matches:
    - path: {type: PathPrefix, value: /anything/match}
      queryParams: [{name: q, value: '1'}, {name: r, value: '2'}]
    backendRefs: [{name: backend-v3, port: 8080}]
---
# HTTPRouteExactPathMatching
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: exact}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [exact.example.test]
  rules:
  - matches: [{path: {type: Exact, value: /anything/one}}]
    backendRefs: [{name: httpbin, port: 80}]
  - matches: [{path: {type: Exact, value: /anything/two}}]
    backendRefs: [{name: backend-v2, port: 8080}]
---
# HTTPRouteHeaderMatching: names case-insensitive, values exact; all of a match's headers.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: headers}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [headers.example.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /anything}, headers: [{name: version, value: one}]}]
    backendRefs: [{name: httpbin, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /anything}, headers: [{name: version, value: two}]}]
    backendRefs: [{name: backend-v2, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /anything}
      headers: [{name: version, value: two}, {name: color, value: orange}]
    backendRefs: [{name: httpbin, port: 80}]
  - matches:
    - {path: {type: PathPrefix, value: /anything}, headers: [{name: color, value: blue}]}
    - {path: {type: PathPrefix, value: /anything}, headers: [{name: color, value: green}]}
    backendRefs: [{name: httpbin, port: 80}]
  - matches:
    - {path: {type: PathPrefix, value: /anything}, headers: [{name: color, value: red}]}
    - {path: {type: PathPrefix, value: /anything}, headers: [{name: color, value: yellow}]}
    backendRefs: [{name: backend-v2, port: 8080}]
---
# HTTPRouteQueryParamMatching: names and values exact; all of a match's parameters.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: query}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [query.example.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /anything}, queryParams: [{name: animal, value: whale}]}]
    backendRefs: [{name: httpbin, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /anything}, queryParams: [{name: animal, value: dolphin}]}]
    backendRefs: [{name: backend-v2, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /anything}
      queryParams: [{name: animal, value: dolphin}, {name: color, value: blue}]
    - path: {type: PathPrefix, value: /anything}
      queryParams: [{name: ANIMAL, value: Whale}]
    backendRefs: [{name: backend-v3, port: 8080}]
---
# HTTPRouteMethodMatching: methods alone and combined with path and header matches.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: method}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [method.example.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /anything}, method: POST}]
    backendRefs: [{name: httpbin, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /anything}, method: GET}]
    backendRefs: [{name: backend-v2, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /anything/path1}, method: GET}]
    backendRefs: [{name: httpbin, port: 80}]
  - matches:
    - path: {type: PathPrefix, value: /anything}
      headers: [{name: version, value: one}]
      method: PUT
    backendRefs: [{name: backend-v2, port: 8080}]
---
# HTTPRouteHostnameIntersection: a route is served on the intersection of its hostnames with
# the listeners'; one sharing none is not accepted.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: intersect-1}
spec:
  parentRefs: [{name: intersection}]
  hostnames: [non.matching.test, '*.nonmatchingwildcard.test', very.specific.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /anything}}]
    backendRefs: [{name: httpbin, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: intersect-2}
spec:
  parentRefs: [{name: intersection}]
  hostnames: [non.matching.test, wildcard.test, foo.wildcard.test, bar.wildcard.test, '*.anotherwildcard.test']
  rules:
  - matches: [{path: {type: PathPrefix, value: /anything}}]
    backendRefs: [{name: backend-v2, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: intersect-none}
spec:
  parentRefs: [{name: intersection}]
  hostnames: [none.matching.test, '*.nowhere.test']
  rules:
  - matches: [{path: {type: PathPrefix, value: /anything}}]
    backendRefs: [{name: backend-v3, port: 8080}]
---
# HTTPRouteListenerHostnameMatching: routes without hostnames attached to one listener each by
# sectionName; an exact listener hostname outranks a wildcard one.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: listener-bar}
spec:
  parentRefs: [{name: listeners, sectionName: bar}]
  rules:
  - backendRefs: [{name: httpbin, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: listener-foo-bar}
spec:
  parentRefs: [{name: listeners, sectionName: foo-bar}]
  rules:
  - backendRefs: [{name: backend-v2, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: listener-wildcards}
spec:
  parentRefs:
  - {name: listeners, sectionName: any-bar}
  - {name: listeners, sectionName: any-foo}
  rules:
  - backendRefs: [{name: backend-v3, port: 8080}]
---
# HTTPRouteRequestHeaderModifier and HTTPRouteResponseHeaderModifier (httpbin's
# /response-headers answers with the headers its query names).
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: modifiers}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [modifiers.example.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /anything}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{name: X-Header-Set, value: set-overwrites-values}]
        add: [{name: X-Header-Add, value: add-appends-values}]
        remove: [X-Header-Remove]
    backendRefs: [{name: httpbin, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /response-headers}}]
    filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set: [{name: X-Header-Set, value: set-overwrites-values}]
        add: [{name: X-Header-Add, value: add-appends-values}]
        remove: [X-Header-Remove]
    backendRefs: [{name: httpbin, port: 80}]
---
# HTTPRouteRedirectHostAndStatus, HTTPRouteRedirectPath, HTTPRouteRedirectPort,
# HTTPRouteRedirectScheme.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: redirects}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [redirect.example.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /hostname-redirect}}]
    filters:
    - {type: RequestRedirect, requestRedirect: {hostname: example.org}}
  - matches: [{path: {type: PathPrefix, value: /host-and-status}}]
    filters:
    - {type: RequestRedirect, requestRedirect: {hostname: example.org, statusCode: 301}}
  - matches: [{path: {type: PathPrefix, value: /original-prefix}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix}}
  - matches: [{path: {type: PathPrefix, value: /full}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: /full-path-replacement}}
  - matches: [{path: {type: PathPrefix, value: /path-and-host}}]
    filters:
    - type: RequestRedirect
      requestRedirect:
        hostname: example.org
        path: {type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix}
  - matches: [{path: {type: PathPrefix, value: /port}}]
    filters:
    - {type: RequestRedirect, requestRedirect: {port: 8083}}
  - matches: [{path: {type: PathPrefix, value: /scheme}}]
    filters:
    - {type: RequestRedirect, requestRedirect: {scheme: https}}
  - matches: [{path: {type: PathPrefix, value: /scheme-and-port}}]
    filters:
    - {type: RequestRedirect, requestRedirect: {scheme: https, port: 8443}}
  - matches: [{path: {type: PathPrefix, value: /scheme-host-status}}]
    filters:
    - {type: RequestRedirect, requestRedirect: {scheme: https, hostname: example.org, statusCode: 301}}
---
# HTTPRouteRewriteHost and HTTPRouteRewritePath.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: rewrites}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [rewrite.example.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /anything/rewrite-host}}]
    filters:
    - {type: URLRewrite, urlRewrite: {hostname: one.example.org}}
    backendRefs: [{name: httpbin, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /anything/prefix/one}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /anything/one}}
    backendRefs: [{name: httpbin, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /anything/full/one}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /anything/one}}
    backendRefs: [{name: httpbin, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /anything/strip-prefix}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /anything}}
    backendRefs: [{name: httpbin, port: 80}]
---
# HTTPRouteReferenceGrant, HTTPRouteInvalidCrossNamespaceBackendRef,
# HTTPRoutePartiallyInvalidViaInvalidReferenceGrant, HTTPRouteInvalidNonExistentBackendRef,
# HTTPRouteInvalidBackendRefUnknownKind: each unresolved backendRef answers 500, the route's
# other rules keep serving.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: references, namespace: team}
spec:
  parentRefs: [{name: gateway, namespace: default}]
  hostnames: [references.example.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /anything/granted}}]
    backendRefs: [{name: backend-v2, namespace: default, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /anything/not-granted}}]
    backendRefs: [{name: backend-v3, namespace: default, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: missing-backend, namespace: team}
spec:
  parentRefs: [{name: gateway, namespace: default}]
  hostnames: [references.example.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /anything/missing}}]
    backendRefs: [{name: no-such-service, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: unknown-kind, namespace: team}
spec:
  parentRefs: [{name: gateway, namespace: default}]
  hostnames: [references.example.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /anything/unknown-kind}}]
    backendRefs: [{group: unknown.example.test, kind: Unknown, name: backend-v2, port: 8080}]
---
# HTTPRouteTimeoutRequest and HTTPRouteTimeoutBackendRequest: httpbin's /delay/1 answers after
# a second, far beyond the 200ms timeouts.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: timeouts}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [timeout.example.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /delay}}]
    timeouts: {request: 200ms}
    backendRefs: [{name: httpbin, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: backend-timeouts}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [timeout-backend.example.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /delay}}]
    timeouts: {backendRequest: 200ms}
    backendRefs: [{name: httpbin, port: 80}]
";

/// Which of the three backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    V1,
    V2,
    V3,
}

/// What a case expects.
enum Expect {
    /// 200 from this backend, and httpbin saw this path.
    Served(Backend, &'static str),
    /// This status, not from a backend.
    Status(u16),
    /// A redirect: status and `Location`.
    Redirect(u16, &'static str),
}

/// One request of a case.
struct Case {
    case: &'static str,
    method: Method,
    host: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    expect: Expect,
}

const fn get(
    case: &'static str,
    host: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    expect: Expect,
) -> Case {
    Case {
        case,
        method: Method::GET,
        host,
        path,
        headers,
        expect,
    }
}

fn with_method(method: Method, mut case: Case) -> Case {
    case.method = method;
    case
}

/// The table: every upstream case's requests and expectations.
#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use Backend::{V1, V2, V3};
    use Expect::{Redirect, Served, Status};
    const M: &str = "matching.example.test";
    const A: &str = "across.example.test";
    const A2: &str = "across-other.example.test";
    const O: &str = "order.example.test";
    const E: &str = "exact.example.test";
    const H: &str = "headers.example.test";
    const Q: &str = "query.example.test";
    const ME: &str = "method.example.test";
    const R: &str = "redirect.example.test";
    const RW: &str = "rewrite.example.test";
    const REF: &str = "references.example.test";
    vec![
        // HTTPRouteMatching
        get("Matching", M, "/anything", &[], Served(V1, "/anything")),
        get("Matching", M, "/anything/example", &[], Served(V1, "/anything/example")),
        get("Matching", M, "/anything/v2", &[], Served(V2, "/anything/v2")),
        get("Matching", M, "/anything/v2/example", &[], Served(V2, "/anything/v2/example")),
        get("Matching", M, "/anything/v2example", &[], Served(V1, "/anything/v2example")),
        get("Matching", M, "/anything", &[("version", "one")], Served(V1, "/anything")),
        get("Matching", M, "/anything", &[("version", "two")], Served(V2, "/anything")),
        // HTTPRouteMatchingAcrossRoutes
        get("MatchingAcrossRoutes", A, "/anything", &[], Served(V1, "/anything")),
        get("MatchingAcrossRoutes", A, "/anything/v2", &[], Served(V2, "/anything/v2")),
        get("MatchingAcrossRoutes", A, "/anything", &[("version", "two")], Served(V2, "/anything")),
        get("MatchingAcrossRoutes", A2, "/anything/v2", &[], Served(V1, "/anything/v2")),
        get("MatchingAcrossRoutes", A2, "/anything", &[("version", "two")], Served(V1, "/anything")),
        // HTTPRoutePathMatchOrder
        get("PathMatchOrder", O, "/anything/match", &[], Served(V1, "/anything/match")),
        get("PathMatchOrder", O, "/anything/match/exact", &[], Served(V2, "/anything/match/exact")),
        get("PathMatchOrder", O, "/anything/match/exact/below", &[], Served(V3, "/anything/match/exact/below")),
        get("PathMatchOrder", O, "/anything/match/other", &[], Served(V3, "/anything/match/other")),
        get("PathMatchOrder", O, "/anything/match/prefix/x", &[], Served(V2, "/anything/match/prefix/x")),
        get("PathMatchOrder", O, "/anything/match/prefix/one/x", &[], Served(V1, "/anything/match/prefix/one/x")),
        with_method(Method::POST, get("PathMatchOrder", O, "/anything/match/other", &[("a", "1"), ("b", "2")], Served(V1, "/anything/match/other"))),
        get("PathMatchOrder", O, "/anything/match/other", &[("a", "1")], Served(V2, "/anything/match/other")),
        get("PathMatchOrder", O, "/anything/match/other", &[("a", "1"), ("b", "2")], Served(V1, "/anything/match/other")),
        get("PathMatchOrder", O, "/anything/match/other?q=1", &[], Served(V1, "/anything/match/other")),
        get("PathMatchOrder", O, "/anything/match/other?q=1", &[("a", "1")], Served(V2, "/anything/match/other")),
        get("PathMatchOrder", O, "/anything/match/other?q=1&r=2", &[], Served(V3, "/anything/match/other")),
        // HTTPRouteExactPathMatching
        get("ExactPathMatching", E, "/anything/one", &[], Served(V1, "/anything/one")),
        get("ExactPathMatching", E, "/anything/two", &[], Served(V2, "/anything/two")),
        get("ExactPathMatching", E, "/anything", &[], Status(404)),
        get("ExactPathMatching", E, "/anything/one/example", &[], Status(404)),
        get("ExactPathMatching", E, "/anything/onetwo", &[], Status(404)),
        // HTTPRouteHeaderMatching
        get("HeaderMatching", H, "/anything", &[("version", "one")], Served(V1, "/anything")),
        get("HeaderMatching", H, "/anything", &[("Version", "one")], Served(V1, "/anything")),
        get("HeaderMatching", H, "/anything", &[("version", "two")], Served(V2, "/anything")),
        get("HeaderMatching", H, "/anything", &[("version", "two"), ("color", "orange")], Served(V1, "/anything")),
        get("HeaderMatching", H, "/anything", &[("color", "blue")], Served(V1, "/anything")),
        get("HeaderMatching", H, "/anything", &[("Color", "green")], Served(V1, "/anything")),
        get("HeaderMatching", H, "/anything", &[("color", "red")], Served(V2, "/anything")),
        get("HeaderMatching", H, "/anything", &[("color", "yellow")], Served(V2, "/anything")),
        get("HeaderMatching", H, "/anything", &[("version", "ONE")], Status(404)),
        get("HeaderMatching", H, "/anything", &[("color", "purple")], Status(404)),
        get("HeaderMatching", H, "/anything", &[], Status(404)),
        // HTTPRouteQueryParamMatching
        get("QueryParamMatching", Q, "/anything?animal=whale", &[], Served(V1, "/anything")),
        get("QueryParamMatching", Q, "/anything?animal=whale&other=irrelevant", &[], Served(V1, "/anything")),
        get("QueryParamMatching", Q, "/anything?animal=dolphin", &[], Served(V2, "/anything")),
        get("QueryParamMatching", Q, "/anything?animal=dolphin&color=blue", &[], Served(V3, "/anything")),
        get("QueryParamMatching", Q, "/anything?ANIMAL=Whale", &[], Served(V3, "/anything")),
        get("QueryParamMatching", Q, "/anything?animal=Whale", &[], Status(404)),
        get("QueryParamMatching", Q, "/anything?color=blue", &[], Status(404)),
        get("QueryParamMatching", Q, "/anything", &[], Status(404)),
        // HTTPRouteMethodMatching
        with_method(Method::POST, get("MethodMatching", ME, "/anything", &[], Served(V1, "/anything"))),
        get("MethodMatching", ME, "/anything", &[], Served(V2, "/anything")),
        get("MethodMatching", ME, "/anything/path1", &[], Served(V1, "/anything/path1")),
        with_method(Method::PUT, get("MethodMatching", ME, "/anything", &[("version", "one")], Served(V2, "/anything"))),
        with_method(Method::PUT, get("MethodMatching", ME, "/anything", &[], Status(404))),
        with_method(Method::DELETE, get("MethodMatching", ME, "/anything", &[], Status(404))),
        // HTTPRouteHostnameIntersection
        get("HostnameIntersection", "very.specific.test", "/anything", &[], Served(V1, "/anything")),
        get("HostnameIntersection", "non.matching.test", "/anything", &[], Status(404)),
        get("HostnameIntersection", "foo.nonmatchingwildcard.test", "/anything", &[], Status(404)),
        get("HostnameIntersection", "foo.wildcard.test", "/anything", &[], Served(V2, "/anything")),
        get("HostnameIntersection", "bar.wildcard.test", "/anything", &[], Served(V2, "/anything")),
        get("HostnameIntersection", "baz.wildcard.test", "/anything", &[], Status(404)),
        get("HostnameIntersection", "wildcard.test", "/anything", &[], Status(404)),
        get("HostnameIntersection", "foo.anotherwildcard.test", "/anything", &[], Served(V2, "/anything")),
        get("HostnameIntersection", "a.b.anotherwildcard.test", "/anything", &[], Served(V2, "/anything")),
        get("HostnameIntersection", "none.matching.test", "/anything", &[], Status(404)),
        get("HostnameIntersection", "x.nowhere.test", "/anything", &[], Status(404)),
        // HTTPRouteListenerHostnameMatching
        get("ListenerHostnameMatching", "bar.test", "/anything", &[], Served(V1, "/anything")),
        get("ListenerHostnameMatching", "foo.bar.test", "/anything", &[], Served(V2, "/anything")),
        get("ListenerHostnameMatching", "baz.bar.test", "/anything", &[], Served(V3, "/anything")),
        get("ListenerHostnameMatching", "multiple.prefixes.bar.test", "/anything", &[], Served(V3, "/anything")),
        get("ListenerHostnameMatching", "multiple.prefixes.foo.test", "/anything", &[], Served(V3, "/anything")),
        get("ListenerHostnameMatching", "foo.test", "/anything", &[], Status(404)),
        get("ListenerHostnameMatching", "no.matching.host", "/anything", &[], Status(404)),
        // HTTPRouteRedirectHostAndStatus
        get("RedirectHostAndStatus", R, "/hostname-redirect", &[], Redirect(302, "http://example.org/hostname-redirect")),
        get("RedirectHostAndStatus", R, "/host-and-status", &[], Redirect(301, "http://example.org/host-and-status")),
        // HTTPRouteRedirectPath
        get("RedirectPath", R, "/original-prefix/lemon", &[], Redirect(302, "http://redirect.example.test/replacement-prefix/lemon")),
        get("RedirectPath", R, "/full/path/original", &[], Redirect(302, "http://redirect.example.test/full-path-replacement")),
        get("RedirectPath", R, "/path-and-host/lemon", &[], Redirect(302, "http://example.org/replacement-prefix/lemon")),
        // HTTPRouteRedirectPort
        get("RedirectPort", R, "/port", &[], Redirect(302, "http://redirect.example.test:8083/port")),
        // HTTPRouteRedirectScheme
        get("RedirectScheme", R, "/scheme", &[], Redirect(302, "https://redirect.example.test/scheme")),
        get("RedirectScheme", R, "/scheme-and-port", &[], Redirect(302, "https://redirect.example.test:8443/scheme-and-port")),
        get("RedirectScheme", R, "/scheme-host-status", &[], Redirect(301, "https://example.org/scheme-host-status")),
        // HTTPRouteRewritePath (HTTPRouteRewriteHost has its own assertions below)
        get("RewritePath", RW, "/anything/prefix/one/two", &[], Served(V1, "/anything/one/two")),
        get("RewritePath", RW, "/anything/prefix/one", &[], Served(V1, "/anything/one")),
        get("RewritePath", RW, "/anything/full/one/two", &[], Served(V1, "/anything/one")),
        get("RewritePath", RW, "/anything/strip-prefix/three", &[], Served(V1, "/anything/three")),
        get("RewritePath", RW, "/anything/strip-prefix", &[], Served(V1, "/anything")),
        // HTTPRouteReferenceGrant and the invalid references
        get("ReferenceGrant", REF, "/anything/granted", &[], Served(V2, "/anything/granted")),
        get("InvalidCrossNamespaceBackendRef", REF, "/anything/not-granted", &[], Status(500)),
        get("InvalidNonExistentBackendRef", REF, "/anything/missing", &[], Status(500)),
        get("InvalidBackendRefUnknownKind", REF, "/anything/unknown-kind", &[], Status(500)),
        // HTTPRouteTimeoutRequest and HTTPRouteTimeoutBackendRequest
        get("TimeoutRequest", "timeout.example.test", "/delay/0", &[], Status(200)),
        get("TimeoutRequest", "timeout.example.test", "/delay/1", &[], Status(504)),
        get("TimeoutBackendRequest", "timeout-backend.example.test", "/delay/0", &[], Status(200)),
        get("TimeoutBackendRequest", "timeout-backend.example.test", "/delay/1", &[], Status(504)),
    ]
}

/// The shared fixture plus the v2 and v3 httpbins and the conformance manifests.
struct Conformance {
    fx: Fixture,
    _v2: (Httpbin, WorkDir),
    _v3: (Httpbin, WorkDir),
}

impl Conformance {
    async fn start(name: &str, args: &[&str], routes: &str) -> Self {
        let v2_work = WorkDir::new(&format!("{name}-v2")).expect("work dir");
        let v2 = Httpbin::start_tagged(&v2_work, "v2")
            .await
            .expect("httpbin v2 starts");
        let v3_work = WorkDir::new(&format!("{name}-v3")).expect("work dir");
        let v3 = Httpbin::start_tagged(&v3_work, "v3")
            .await
            .expect("httpbin v3 starts");
        let backends = [
            loopback_service("backend-v2", 8080, v2.port()),
            loopback_service("backend-v3", 8080, v3.port()),
            BACKENDS.to_owned(),
        ]
        .join("---\n");
        let fx = start_tagged(
            name,
            args,
            &[("backends.yaml", &backends), ("routes.yaml", routes)],
            Some("v1"),
        )
        .await;
        Conformance {
            fx,
            _v2: (v2, v2_work),
            _v3: (v3, v3_work),
        }
    }

    /// The backend whose tag httpbin echoed.
    fn backend_of(&self, response: &Response) -> Option<Backend> {
        let seen = echoed_headers(&response.json());
        match seen.get(BACKEND_TAG)?.as_str() {
            "v1" => Some(Backend::V1),
            "v2" => Some(Backend::V2),
            "v3" => Some(Backend::V3),
            _ => None,
        }
    }

    /// Runs one case; a description of the mismatch if it fails.
    async fn check(&self, c: &Case) -> Result<(), String> {
        let r = self
            .fx
            .http(c.method.clone(), c.host, c.path, c.headers)
            .await;
        let what = format!(
            "HTTPRoute{}: {} {}{} {:?}",
            c.case, c.method, c.host, c.path, c.headers
        );
        match c.expect {
            Expect::Served(backend, path) => {
                if r.status != 200 {
                    return Err(format!(
                        "{what}: want 200 from {backend:?}: {}",
                        r.describe()
                    ));
                }
                let seen = self.backend_of(&r);
                if seen != Some(backend) {
                    return Err(format!("{what}: want {backend:?}, answered by {seen:?}"));
                }
                // The suite's default expectation: the backend sees the request's Host.
                let host = echoed_headers(&r.json()).get("host").cloned();
                if host.as_deref() != Some(c.host) {
                    return Err(format!(
                        "{what}: want Host {}, the backend saw {host:?}",
                        c.host
                    ));
                }
                let url = r.json()["url"].as_str().unwrap_or_default().to_owned();
                let echoed = url
                    .split_once("://")
                    .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
                    .map(|p| p.split('?').next().unwrap_or(p))
                    .unwrap_or_default();
                if echoed != path {
                    return Err(format!(
                        "{what}: want the backend to see {path}, it saw {url}"
                    ));
                }
            }
            Expect::Status(status) => {
                if r.status != status {
                    return Err(format!("{what}: want {status}: {}", r.describe()));
                }
            }
            Expect::Redirect(status, location) => {
                if r.status != status || r.header("location") != Some(location) {
                    return Err(format!(
                        "{what}: want {status} to {location}: {} location {:?}",
                        r.status,
                        r.header("location")
                    ));
                }
            }
        }
        Ok(())
    }
}

async fn the_conformance_table_holds(name: &str, args: &[&str]) {
    let cx = Conformance::start(name, args, ROUTES).await;
    let mut failures = Vec::new();
    let table = cases();
    for case in &table {
        if let Err(e) = cx.check(case).await {
            failures.push(e);
        }
    }
    println!(
        "{} of {} conformance requests as expected",
        table.len() - failures.len(),
        table.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Standalone mode reports each route's failing condition and reason in its log.
    let log = cx.fx.log();
    for (route, reason) in [
        (
            "name=intersect-none ",
            "reason=\"NoMatchingListenerHostname\" condition=\"Accepted\"",
        ),
        (
            "name=references ",
            "reason=\"RefNotPermitted\" condition=\"ResolvedRefs\"",
        ),
        (
            "name=missing-backend ",
            "reason=\"BackendNotFound\" condition=\"ResolvedRefs\"",
        ),
        (
            "name=unknown-kind ",
            "reason=\"InvalidKind\" condition=\"ResolvedRefs\"",
        ),
    ] {
        assert!(
            log.lines().any(|l| l.contains(route) && l.contains(reason)),
            "{route}{reason} not logged:\n{log}"
        );
    }
}

#[tokio::test]
async fn the_conformance_table_holds_on_the_fast_path() {
    the_conformance_table_holds("gateway-conformance-fast", &[]).await;
}

#[tokio::test]
async fn the_conformance_table_holds_on_the_hyper_path() {
    the_conformance_table_holds("gateway-conformance-hyper", &["--http1-fast-path", "false"]).await;
}

/// HTTPRouteRequestHeaderModifier, HTTPRouteResponseHeaderModifier and HTTPRouteRewriteHost:
/// headers seen by the backend and by the client.
async fn header_modifiers_and_host_rewrite(name: &str, args: &[&str]) {
    let cx = Conformance::start(name, args, ROUTES).await;
    let host = "modifiers.example.test";
    let r = cx
        .fx
        .http(
            Method::GET,
            host,
            "/anything",
            &[
                ("x-header-set", "some-other-value"),
                ("x-header-add", "some-value"),
                ("x-header-remove", "gone"),
                ("x-header-kept", "kept"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let seen = echoed_headers(&r.json());
    assert_eq!(
        seen.get("x-header-set").map(String::as_str),
        Some("set-overwrites-values")
    );
    assert_eq!(
        seen.get("x-header-add").map(String::as_str),
        Some("some-value,add-appends-values"),
        "{seen:?}"
    );
    assert!(!seen.contains_key("x-header-remove"), "{seen:?}");
    assert_eq!(seen.get("x-header-kept").map(String::as_str), Some("kept"));
    // The backend sees the client's `Host`, as the upstream suite expects, and it in
    // `X-Forwarded-Host` too.
    assert_eq!(seen.get("host").map(String::as_str), Some(host), "{seen:?}");
    assert_eq!(
        seen.get("x-forwarded-host").map(String::as_str),
        Some(host),
        "{seen:?}"
    );

    // Without the headers: set and add both create them.
    let r = cx.fx.get(host, "/anything").await;
    let seen = echoed_headers(&r.json());
    assert_eq!(
        seen.get("x-header-set").map(String::as_str),
        Some("set-overwrites-values")
    );
    assert_eq!(
        seen.get("x-header-add").map(String::as_str),
        Some("add-appends-values")
    );

    // httpbin answers with the headers its query names; the filter edits them.
    let r = cx
        .fx
        .get(
            host,
            "/response-headers?X-Header-Set=original&X-Header-Add=original&X-Header-Remove=gone&X-Header-Kept=kept",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.header_all("x-header-set"), vec!["set-overwrites-values"]);
    let mut added = r.header_all("x-header-add");
    added.sort();
    assert_eq!(
        added,
        vec!["add-appends-values", "original"],
        "{}",
        r.describe()
    );
    assert!(
        r.header_all("x-header-remove").is_empty(),
        "{}",
        r.describe()
    );
    assert_eq!(r.header("x-header-kept"), Some("kept"));

    // HTTPRouteRewriteHost: the backend sees the rewritten Host.
    let r = cx
        .fx
        .get("rewrite.example.test", "/anything/rewrite-host/x")
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let seen = echoed_headers(&r.json());
    assert_eq!(
        seen.get("host").map(String::as_str),
        Some("one.example.org"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn header_modifiers_and_host_rewrite_on_the_fast_path() {
    header_modifiers_and_host_rewrite("gateway-conformance-modifiers-fast", &[]).await;
}

#[tokio::test]
async fn header_modifiers_and_host_rewrite_on_the_hyper_path() {
    header_modifiers_and_host_rewrite(
        "gateway-conformance-modifiers-hyper",
        &["--http1-fast-path", "false"],
    )
    .await;
}

/// HTTPRouteWeight: weights 70, 30 and 0 over three backends.
const WEIGHTS: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: weighted}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [weights.example.test]
  rules:
  - backendRefs:
    - {name: httpbin, port: 80, weight: 70}
    - {name: backend-v2, port: 8080, weight: 30}
    - {name: backend-v3, port: 8080, weight: 0}
";

#[tokio::test]
async fn weights_split_the_traffic_and_a_zero_weight_gets_none() {
    let cx = Conformance::start("gateway-conformance-weights", &[], WEIGHTS).await;
    let mut counts = [0u32; 3];
    const REQUESTS: u32 = 500;
    for _ in 0..REQUESTS {
        let r = cx.fx.get("weights.example.test", "/anything").await;
        assert_eq!(r.status, 200, "{}", r.describe());
        match cx.backend_of(&r) {
            Some(Backend::V1) => counts[0] += 1,
            Some(Backend::V2) => counts[1] += 1,
            Some(Backend::V3) => counts[2] += 1,
            None => panic!("no backend named: {}", r.describe()),
        }
    }
    println!("weights 70/30/0 over {REQUESTS} requests: {counts:?}");
    assert_eq!(counts[2], 0, "weight 0 is never chosen: {counts:?}");
    // 70% of 500 is 350; allow 10 points either way (about five standard deviations).
    assert!((300..=400).contains(&counts[0]), "{counts:?}");
    assert_eq!(counts[0] + counts[1], REQUESTS);
}
