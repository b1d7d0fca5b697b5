"""Renders the Tollgate chart with `helm template` and checks what it produces.

Needs helm (scripts/tools.sh installs it into .tools/bin) and PyYAML (e2e/chart/requirements.txt).
Run: .venv/bin/python -m unittest discover -s e2e/chart   (scripts/chart-test.sh does)
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(ROOT, "charts", "tollgate")
CI = os.path.join(CHART, "ci")
INVALID = os.path.join(ROOT, "e2e", "chart", "invalid-values")
NS = "tollgate-system"
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import rbac_check  # noqa: E402

CRDS = ["consumers", "oauth2credentials", "gatewayroutes", "authplugins"]

# The controller's permissions, exactly (namespace None: cluster-wide; "<release>": release ns).
WATCH_RULES = [
    (("tollgate.dev",), tuple(CRDS), ("get", "list", "watch"), ()),
    (("tollgate.dev",), tuple(f"{c}/status" for c in CRDS), ("get", "patch", "update"), ()),
    (("",), ("secrets",), ("get", "list", "watch"), ()),
    # backend.service {name, port}: a named port is resolved through the Service
    (("",), ("services",), ("get", "list", "watch"), ()),
    (("discovery.k8s.io",), ("endpointslices",), ("get", "list", "watch"), ()),
    # Ingresses of Tollgate's classes, and their status.loadBalancer (a merge patch)
    (("networking.k8s.io",), ("ingresses",), ("get", "list", "watch"), ()),
    (("networking.k8s.io",), ("ingresses/status",), ("patch",), ()),
    (("events.k8s.io",), ("events",), ("create", "patch"), ()),
    (("",), ("events",), ("create", "patch"), ()),
    # The Gateway API's namespaced kinds, and the status of Gateways and HTTPRoutes.
    (("gateway.networking.k8s.io",), ("gateways", "httproutes", "referencegrants"),
     ("get", "list", "watch"), ()),
    (("gateway.networking.k8s.io",), ("gateways/status", "httproutes/status"), ("patch",), ()),
]
# GatewayClasses are cluster-scoped: read (and their status written) cluster-wide in both modes.
GATEWAY_CLASS_RULES = [
    (("gateway.networking.k8s.io",), ("gatewayclasses",), ("get", "list", "watch"), ()),
    (("gateway.networking.k8s.io",), ("gatewayclasses/status",), ("patch",), ()),
]
# IngressClasses are cluster-scoped: read cluster-wide in both modes.
INGRESS_CLASS_RULES = [
    (("networking.k8s.io",), ("ingressclasses",), ("get", "list", "watch"), ()),
]
# Namespace labels for AuthPlugin allowedNamespaces selectors: cluster-wide mode only.
CLUSTER_WIDE_ONLY_RULES = [
    (("",), ("namespaces",), ("get", "list", "watch"), ()),
] + INGRESS_CLASS_RULES + GATEWAY_CLASS_RULES
# Without the Gateway API (gatewayAPI.enabled=false): none of its rules.
GATEWAY_API_RULES = WATCH_RULES[-2:] + GATEWAY_CLASS_RULES
GENERATED_SECRETS_RULE = (("",), ("secrets",), ("get", "create", "patch"),
                          ("tollgate-config-token", "tollgate-signing-keys", "tollgate-config-tls"))
LEASE_RULES = [
    GENERATED_SECRETS_RULE,
    (("coordination.k8s.io",), ("leases",), ("create",), ()),
    (("coordination.k8s.io",), ("leases",), ("get", "update", "patch"), ("tollgate-controller",)),
    # The Secrets keeping sealed client-secret verifiers between restarts, by name only.
    (("",), ("secrets",), ("get", "create", "update", "patch"),
     tuple(f"tollgate-verifier-cache-{i}" for i in range(16))),
    # The Secret keeping the revocations made at the proxies, by name only.
    (("",), ("secrets",), ("get", "create", "patch"), ("tollgate-revocations",)),
]
RELEASE_NS_READ_RULES = [
    (("",), ("secrets",), ("get", "list", "watch"), ()),
    (("discovery.k8s.io",), ("endpointslices",), ("get", "list", "watch"), ()),
    # The publish Service (--publish-service): the proxy Service.
    (("",), ("services",), ("get", "list", "watch"), ()),
]


def helm_binary() -> str | None:
    local = os.path.join(ROOT, ".tools", "bin", "helm")
    return local if os.access(local, os.X_OK) else shutil.which("helm")


def helm_template(*args: str) -> subprocess.CompletedProcess:
    helm = helm_binary()
    if helm is None:
        raise unittest.SkipTest("helm not installed: run scripts/tools.sh")
    return subprocess.run([helm, "template", "tollgate", CHART, "--namespace", NS, *args],
                          capture_output=True, text=True, check=False)


@functools.lru_cache(maxsize=None)
def render(*args: str) -> tuple:
    proc = helm_template(*args)
    if proc.returncode != 0:
        raise AssertionError(f"helm template {' '.join(args)} failed: {proc.stderr}")
    return tuple(d for d in yaml.safe_load_all(proc.stdout) if d)


def chart_app_version() -> str:
    with open(os.path.join(CHART, "Chart.yaml"), encoding="utf-8") as f:
        return str(yaml.safe_load(f)["appVersion"])


def variant(name: str) -> tuple:
    return render("-f", os.path.join(CI, f"{name}-values.yaml"))


def find(docs, kind, name=None, namespace=None):
    return [d for d in docs if d["kind"] == kind
            and (name is None or d["metadata"]["name"] == name)
            and (namespace is None or d["metadata"].get("namespace") == namespace)]


def one(docs, kind, name=None, namespace=None):
    found = find(docs, kind, name, namespace)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container(docs, deployment):
    return one(docs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]


def args_map(c) -> dict:
    return dict(a[2:].split("=", 1) for a in c["args"] if a.startswith("--") and "=" in a)


def rule_set(grants, namespace):
    return sorted((tuple(g["apiGroups"]), tuple(g["resources"]), tuple(g["verbs"]),
                   tuple(g["resourceNames"])) for g in grants if g["namespace"] == namespace)


class DefaultRenderTest(unittest.TestCase):
    def setUp(self):
        self.docs = render()

    def test_the_default_image_is_the_locally_built_one_used_as_loaded(self):
        for name in ("tollgate-controller", "tollgate-proxy"):
            c = container(self.docs, name)
            self.assertEqual(c["image"], "tollgate:" + chart_app_version())
            self.assertEqual(c["imagePullPolicy"], "IfNotPresent")

    def test_install_notes_never_suggest_well_known_credentials(self):
        helm = helm_binary()
        if helm is None:
            raise unittest.SkipTest("helm not installed: run scripts/tools.sh")
        proc = subprocess.run([helm, "install", "tollgate", CHART, "--namespace", NS, "--dry-run=client"], capture_output=True, text=True, check=False)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        notes = proc.stdout.split("NOTES:", 1)[1]
        self.assertIn("openssl rand", notes)
        for well_known in ("client_secret=secret", "client_id=client", "kubectl apply -f examples/quickstart"):
            self.assertNotIn(well_known, notes)
        self.assertIn("docker build -f Dockerfile", notes)

    def test_two_releases_have_their_own_field_manager_and_can_take_their_own_class(self):
        a = args_map(container(self.docs, "tollgate-controller"))
        self.assertEqual((a["class"], a["field-manager"]), ("tollgate", "tollgate-controller"))
        proc = subprocess.run([helm_binary(), "template", "other", CHART, "--namespace", NS,
                               "--set", "controller.class=team-b"],
                              capture_output=True, text=True, check=False)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
        deployments = [d for d in docs if d["kind"] == "Deployment"
                       and d["metadata"]["name"].endswith("-controller")]
        b = args_map(deployments[0]["spec"]["template"]["spec"]["containers"][0])
        self.assertEqual(b["class"], "team-b")
        self.assertNotEqual(b["field-manager"], a["field-manager"])

    def test_two_releases_in_one_namespace_share_no_object_name_and_serve_their_own_class(self):
        # Everything but the CRDs (Helm installs them once, shared) belongs to one release: two
        # releases side by side never write each other's RBAC, Lease, Secrets or Services.
        helm = helm_binary()
        releases = {}
        for release, cls in (("tollgate", "tollgate"), ("team-b", "team-b")):
            proc = subprocess.run([helm, "template", release, CHART, "--namespace", NS,
                                   "--set", f"controller.class={cls}"],
                                  capture_output=True, text=True, check=False)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            releases[release] = [d for d in yaml.safe_load_all(proc.stdout) if d]
        names = {release: {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])
                           for d in docs if d["kind"] != "CustomResourceDefinition"}
                 for release, docs in releases.items()}
        self.assertEqual(names["tollgate"] & names["team-b"], set())
        for kind in ("ClusterRole", "ClusterRoleBinding"):
            self.assertTrue(all(any(k == kind for k, _, _ in n) for n in names.values()), kind)
        controller = {release: args_map(next(
            d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-controller")
        )["spec"]["template"]["spec"]["containers"][0]) for release, docs in releases.items()}
        for key in ("class", "field-manager", "lease-name", "config-token-secret",
                    "signing-key-secret", "proxy-service"):
            self.assertNotEqual(controller["tollgate"].get(key), controller["team-b"].get(key), key)
        # Each binding grants its own release's account.
        for release, docs in releases.items():
            accounts = {s["metadata"]["name"] for s in docs if s["kind"] == "ServiceAccount"}
            for binding in (d for d in docs if d["kind"] in ("ClusterRoleBinding", "RoleBinding")):
                for subject in binding["subjects"]:
                    self.assertIn(subject["name"], accounts, (release, binding["metadata"]["name"]))

    def test_notes_say_how_to_upgrade_the_crds(self):
        helm = helm_binary()
        if helm is None:
            self.skipTest("helm not installed")
        proc = subprocess.run([helm, "install", "tollgate", CHART, "--namespace", NS, "--dry-run=client"],
                              capture_output=True, text=True, check=False)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        notes = proc.stdout.split("NOTES:", 1)[1]
        self.assertIn("kubectl apply --server-side --force-conflicts -f", notes)
        self.assertIn("crds/", notes)

    def test_controller_and_proxy_run_two_replicas_each_with_their_commands(self):
        for name, command in [("tollgate-controller", "tollgate-controller"),
                              ("tollgate-proxy", "tollgate-proxy")]:
            with self.subTest(name=name):
                self.assertEqual(one(self.docs, "Deployment", name)["spec"]["replicas"], 2)
                self.assertEqual(container(self.docs, name)["command"], [command])
        self.assertEqual(container(self.docs, "tollgate-controller")["args"][0], "run")

    def test_controller_flags_name_the_objects_the_chart_creates(self):
        a = args_map(container(self.docs, "tollgate-controller"))
        self.assertEqual(a["proxy-service"], f"{NS}/tollgate-proxy-config")
        self.assertEqual(a["config-token-secret"], f"{NS}/tollgate-config-token")
        self.assertEqual(a["signing-key-secret"], f"{NS}/tollgate-signing-keys")
        self.assertEqual(a["admin-addr"], "[::]:8100")
        self.assertEqual((a["lease-name"], a["lease-namespace"]), ("tollgate-controller", NS))
        self.assertNotIn("namespaces", a)
        one(self.docs, "Service", "tollgate-proxy-config")
        # The two Secrets are the controller's to create (see the generated-secrets tests).
        proxy = one(self.docs, "Deployment", "tollgate-proxy")["spec"]["template"]["spec"]
        self.assertIn("tollgate-config-token",
                      [v.get("secret", {}).get("secretName") for v in proxy["volumes"]])

    def test_the_ingress_class_is_tollgates_and_ingresses_get_the_proxy_services_address(self):
        cls = one(self.docs, "IngressClass", "tollgate")
        self.assertEqual(cls["spec"]["controller"], "tollgate.dev/ingress-controller")
        self.assertEqual(cls["metadata"]["annotations"], {"tollgate.dev/class": "tollgate"})
        a = args_map(container(self.docs, "tollgate-controller"))
        self.assertEqual(a["publish-service"], f"{NS}/tollgate-proxy")
        one(self.docs, "Service", "tollgate-proxy")
        default = one(render("--set", "ingressClass.isDefaultClass=true",
                             "--set", "ingressClass.name=edge"), "IngressClass", "edge")
        self.assertEqual(default["metadata"]["annotations"],
                         {"ingressclass.kubernetes.io/is-default-class": "true",
                          "tollgate.dev/class": "tollgate"})
        # Another install's class is named after it, and says it is its own.
        other = one(render("--set", "controller.class=team-b"), "IngressClass", "team-b")
        self.assertEqual(other["metadata"]["annotations"], {"tollgate.dev/class": "team-b"})
        self.assertEqual(find(render("--set", "ingressClass.create=false"), "IngressClass"), [])

    def test_proxy_listens_on_the_contract_ports_and_reads_the_config_token_file(self):
        c = container(self.docs, "tollgate-proxy")
        a = args_map(c)
        self.assertEqual((a["http-addr"], a["https-addr"], a["admin-addr"], a["metrics-addr"]),
                         ("[::]:8000", "[::]:8443", "[::]:8100", "[::]:9100"))
        self.assertEqual({p["name"]: p["containerPort"] for p in c["ports"]},
                         {"http": 8000, "https": 8443, "admin": 8100, "metrics": 9100})
        mount = next(m for m in c["volumeMounts"] if m["name"] == "config-token")
        self.assertEqual(a["config-token-file"], mount["mountPath"] + "/token")
        vol = next(v for v in one(self.docs, "Deployment", "tollgate-proxy")["spec"]["template"]
                   ["spec"]["volumes"] if v["name"] == "config-token")
        self.assertEqual(vol["secret"]["secretName"], "tollgate-config-token")
        self.assertNotIn("tls-cert", a)
        self.assertNotIn("tls-sni-dir", a)
        self.assertEqual(a["access-log"], "on")
        # The default backend address policy: no allow- or deny-list flags.
        self.assertFalse([x for x in c["args"] if x.startswith("--backend-")])

    def test_the_config_channel_speaks_tls_with_the_certificate_the_controller_checks(self):
        proxy = container(self.docs, "tollgate-proxy")
        a = args_map(proxy)
        mount = next(m for m in proxy["volumeMounts"] if m["name"] == "config-tls")
        self.assertEqual((a["config-tls-cert"], a["config-tls-key"]),
                         (mount["mountPath"] + "/tls.crt", mount["mountPath"] + "/tls.key"))
        self.assertNotIn("config-channel-plaintext", a)
        vol = next(v for v in one(self.docs, "Deployment", "tollgate-proxy")["spec"]["template"]
                   ["spec"]["volumes"] if v["name"] == "config-tls")
        self.assertEqual(vol["secret"]["secretName"], "tollgate-config-tls")
        c = container(self.docs, "tollgate-controller")
        ca = args_map(c)
        self.assertEqual(ca["config-tls-secret"], f"{NS}/tollgate-config-tls")
        self.assertEqual(ca["config-tls-server-name"], f"tollgate-proxy-config.{NS}.svc")
        self.assertIn("--create-config-tls-secret", c["args"])

    def test_chart_generated_config_tls_is_a_labelled_tls_secret_for_the_server_name(self):
        docs = render("--set", "generatedSecrets=chart")
        secret = one(docs, "Secret", "tollgate-config-tls")
        self.assertEqual(secret["type"], "kubernetes.io/tls")
        self.assertEqual(secret["metadata"]["labels"]["tollgate.dev/secret"], "config-tls")
        pem = base64.b64decode(secret["data"]["tls.crt"]).decode()
        self.assertIn("BEGIN CERTIFICATE", pem)
        self.assertIn("PRIVATE KEY", base64.b64decode(secret["data"]["tls.key"]).decode())
        self.assertNotIn("--create-config-tls-secret",
                         container(docs, "tollgate-controller")["args"])

    def test_network_policies_keep_the_config_channel_to_the_controller(self):
        proxy_policy = one(self.docs, "NetworkPolicy", "tollgate-proxy")["spec"]
        proxy_labels = one(self.docs, "Deployment", "tollgate-proxy")["spec"]["template"][
            "metadata"]["labels"]
        controller_labels = one(self.docs, "Deployment", "tollgate-controller")["spec"][
            "template"]["metadata"]["labels"]
        self.assertTrue(proxy_policy["podSelector"]["matchLabels"].items() <= proxy_labels.items())
        by_port = {tuple(p["port"] for p in rule["ports"]): rule.get("from")
                   for rule in proxy_policy["ingress"]}
        self.assertEqual(set(by_port), {("http", "https"), ("admin",), ("metrics",)})
        self.assertIsNone(by_port[("http", "https")], "traffic from anywhere")
        (peer,) = by_port[("admin",)]
        self.assertTrue(peer["podSelector"]["matchLabels"].items() <= controller_labels.items())
        self.assertFalse(peer["podSelector"]["matchLabels"].items() <= proxy_labels.items())
        controller_policy = one(self.docs, "NetworkPolicy", "tollgate-controller")["spec"]
        self.assertEqual([[p["port"] for p in r["ports"]] for r in controller_policy["ingress"]],
                         [["admin"]])
        restricted = render("--set-json",
                            'networkPolicy.metricsFrom=[{"namespaceSelector":{"matchLabels":'
                            '{"kubernetes.io/metadata.name":"monitoring"}}}]')
        rules = one(restricted, "NetworkPolicy", "tollgate-proxy")["spec"]["ingress"]
        metrics = next(r for r in rules if r["ports"] == [{"port": "metrics"}])
        self.assertEqual(metrics["from"][0]["namespaceSelector"]["matchLabels"],
                         {"kubernetes.io/metadata.name": "monitoring"})
        self.assertEqual(find(render("--set", "networkPolicy.enabled=false"), "NetworkPolicy"), [])

    def test_every_container_is_locked_down(self):
        for name in ["tollgate-controller", "tollgate-proxy"]:
            with self.subTest(name=name):
                pod = one(self.docs, "Deployment", name)["spec"]["template"]["spec"]
                self.assertTrue(pod["securityContext"]["runAsNonRoot"])
                self.assertEqual(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault")
                sc = pod["containers"][0]["securityContext"]
                self.assertTrue(sc["runAsNonRoot"])
                self.assertTrue(sc["readOnlyRootFilesystem"])
                self.assertFalse(sc["allowPrivilegeEscalation"])
                self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
                self.assertEqual(sc["seccompProfile"]["type"], "RuntimeDefault")
                res = pod["containers"][0]["resources"]
                self.assertTrue(res["requests"]["cpu"] and res["limits"]["memory"])

    def test_probes_use_healthz_and_readyz_on_the_health_port(self):
        # The proxy's admin port is its config channel (TLS); health is on its metrics port.
        for name, port in [("tollgate-controller", "admin"), ("tollgate-proxy", "metrics")]:
            with self.subTest(name=name):
                c = container(self.docs, name)
                self.assertEqual(c["livenessProbe"]["httpGet"], {"path": "/healthz", "port": port})
                self.assertEqual(c["readinessProbe"]["httpGet"], {"path": "/readyz", "port": port})

    def test_only_the_controller_mounts_an_api_token(self):
        pods = {n: one(self.docs, "Deployment", n)["spec"]["template"]["spec"]
                for n in ["tollgate-controller", "tollgate-proxy"]}
        self.assertTrue(pods["tollgate-controller"]["automountServiceAccountToken"])
        self.assertFalse(pods["tollgate-proxy"]["automountServiceAccountToken"])
        self.assertFalse(one(self.docs, "ServiceAccount", "tollgate-proxy")
                         ["automountServiceAccountToken"])

    def test_proxy_service_maps_80_to_8000_and_443_to_8443(self):
        svc = one(self.docs, "Service", "tollgate-proxy")["spec"]
        self.assertEqual(svc["type"], "ClusterIP", "nothing public unless asked for")
        self.assertEqual([(p["name"], p["port"], p["targetPort"]) for p in svc["ports"]],
                         [("http", 80, "http"), ("https", 443, "https")])
        proxy_labels = one(self.docs, "Deployment", "tollgate-proxy")["spec"]["template"][
            "metadata"]["labels"]
        self.assertTrue(svc["selector"].items() <= proxy_labels.items())

    def test_config_service_is_headless_and_publishes_not_ready_proxies(self):
        svc = one(self.docs, "Service", "tollgate-proxy-config")["spec"]
        self.assertEqual(svc["clusterIP"], "None")
        self.assertTrue(svc["publishNotReadyAddresses"])
        self.assertEqual([(p["port"], p["targetPort"]) for p in svc["ports"]],
                         [(8100, "admin"), (9100, "metrics")])
        self.assertEqual(svc["selector"]["app.kubernetes.io/component"], "proxy")

    def test_proxy_disruption_budget_selects_the_proxy_pods(self):
        pdb = one(self.docs, "PodDisruptionBudget", "tollgate-proxy")["spec"]
        self.assertEqual(pdb["maxUnavailable"], 1)
        self.assertEqual(pdb["selector"]["matchLabels"],
                         one(self.docs, "Deployment", "tollgate-proxy")["spec"]["selector"][
                             "matchLabels"])

    def test_by_default_the_controller_creates_the_secrets_so_renders_are_identical(self):
        self.assertEqual(find(self.docs, "Secret"), [])
        a = container(self.docs, "tollgate-controller")["args"]
        self.assertIn("--create-config-token-secret", a)
        self.assertIn("--create-signing-keys-secret", a)
        again = render("--set", "commonLabels.x=y")
        self.assertEqual(find(again, "Secret"), [])

    def test_generated_secrets_carry_the_tollgate_labels_and_enough_randomness(self):
        docs = render("--set", "generatedSecrets=chart")
        self.assertNotIn("--create-config-token-secret", container(docs, "tollgate-controller")["args"])
        token = one(docs, "Secret", "tollgate-config-token")
        self.assertEqual(token["metadata"]["labels"]["tollgate.dev/secret"], "config-token")
        self.assertEqual(len(base64.b64decode(token["data"]["token"])), 48)
        keys = one(docs, "Secret", "tollgate-signing-keys")
        self.assertEqual(keys["metadata"]["labels"]["tollgate.dev/secret"], "signing-keys")
        self.assertEqual(keys["metadata"]["annotations"]["helm.sh/resource-policy"], "keep")
        ((kid, value),) = keys["data"].items()
        self.assertRegex(kid, r"^k[0-9]{4}-[0-9]{2}-[0-9]{2}$")
        self.assertEqual(len(base64.b64decode(value)), 32)

    def test_each_render_generates_fresh_secrets_when_no_cluster_can_be_looked_up(self):
        a = render("--set", "generatedSecrets=chart")
        b = render("--set", "generatedSecrets=chart", "--set", "commonLabels.x=y")
        self.assertNotEqual(one(a, "Secret", "tollgate-config-token")["data"],
                            one(b, "Secret", "tollgate-config-token")["data"])

    def test_cluster_wide_rbac_is_exactly_the_least_privilege_rule_set(self):
        rules = rbac_check.extract_rules(list(self.docs), None)
        self.assertEqual(rules["serviceAccount"], {"namespace": NS, "name": "tollgate-controller"})
        self.assertEqual(rule_set(rules["grants"], None),
                         sorted(WATCH_RULES + CLUSTER_WIDE_ONLY_RULES))
        self.assertEqual(rule_set(rules["grants"], NS), sorted(LEASE_RULES))
        self.assertEqual({g["namespace"] for g in rules["grants"]}, {None, NS})

    def test_no_service_monitor_by_default(self):
        self.assertEqual(find(self.docs, "ServiceMonitor"), [])


class VariantRenderTest(unittest.TestCase):
    def test_namespaced_mode_grants_roles_in_watched_namespaces_and_only_class_reads_cluster_wide(self):
        docs = variant("namespaced")
        self.assertEqual(sorted(d["metadata"]["name"] for d in find(docs, "ClusterRole") + find(docs, "ClusterRoleBinding")),
                         ["tollgate-controller-gatewayclasses"] * 2 + ["tollgate-controller-ingressclasses"] * 2)
        rules = rbac_check.extract_rules(list(docs), None)
        self.assertEqual(rule_set(rules["grants"], None), sorted(INGRESS_CLASS_RULES + GATEWAY_CLASS_RULES))
        for ns in ["team-a", "team-b"]:
            with self.subTest(namespace=ns):
                self.assertEqual(rule_set(rules["grants"], ns), sorted(WATCH_RULES))
        self.assertEqual(rule_set(rules["grants"], NS), sorted(LEASE_RULES + RELEASE_NS_READ_RULES))
        self.assertEqual({g["namespace"] for g in rules["grants"]}, {"team-a", "team-b", NS, None})
        a = args_map(container(docs, "tollgate-controller"))
        self.assertEqual(a["namespaces"], "team-a,team-b")

    def test_generated_client_secrets_grant_secret_writes_exactly_where_credentials_are_watched(self):
        write = (("",), ("secrets",), ("create", "patch"), ())
        docs = render("--set", "clientSecrets.generate=true")
        rules = rbac_check.extract_rules(list(docs), None)
        self.assertEqual(rule_set(rules["grants"], None),
                         sorted(WATCH_RULES + CLUSTER_WIDE_ONLY_RULES + [write]))
        self.assertEqual(rule_set(rules["grants"], NS), sorted(LEASE_RULES))
        c = container(docs, "tollgate-controller")
        self.assertIn("--generate-client-secrets", c["args"])
        self.assertNotIn("--generate-client-secrets", container(render(), "tollgate-controller")["args"])
        docs = render("--set", "clientSecrets.generate=true", "--set", "watchNamespaces={team-a}")
        rules = rbac_check.extract_rules(list(docs), None)
        self.assertEqual(rule_set(rules["grants"], "team-a"), sorted(WATCH_RULES + [write]))
        self.assertEqual(rule_set(rules["grants"], None), sorted(INGRESS_CLASS_RULES + GATEWAY_CLASS_RULES))

    def test_without_the_gateway_api_no_rule_names_it_and_the_controller_does_not_watch_it(self):
        docs = render("--set", "gatewayAPI.enabled=false")
        rules = rbac_check.extract_rules(list(docs), None)
        granted = rule_set(rules["grants"], None)
        self.assertEqual(granted, sorted(set(WATCH_RULES + CLUSTER_WIDE_ONLY_RULES) - set(GATEWAY_API_RULES)))
        self.assertIn("--gateway-api=false", container(docs, "tollgate-controller")["args"])
        self.assertIn("--gateway-api=true", container(render(), "tollgate-controller")["args"])
        docs = render("--set", "gatewayAPI.enabled=false", "--set", "watchNamespaces={team-a}")
        self.assertEqual([d["metadata"]["name"] for d in find(docs, "ClusterRole")],
                         ["tollgate-controller-ingressclasses"])

    def test_the_gateway_class_is_rendered_only_where_its_crd_is_installed(self):
        self.assertEqual(find(render(), "GatewayClass"), [])
        with_crd = ("--api-versions", "gateway.networking.k8s.io/v1/GatewayClass")
        gc = one(render(*with_crd), "GatewayClass")
        self.assertEqual(gc["metadata"]["name"], "tollgate")
        self.assertEqual(gc["spec"]["controllerName"], "tollgate.dev/gateway-controller")
        self.assertLessEqual(len(gc["spec"]["description"]), 64)
        self.assertNotIn("annotations", gc["metadata"])
        other = one(render(*with_crd, "--set", "controller.class=team-b"), "GatewayClass")
        self.assertEqual(other["metadata"]["name"], "team-b")
        self.assertEqual(other["metadata"]["annotations"], {"tollgate.dev/class": "team-b"})
        self.assertEqual(find(render(*with_crd, "--set", "gatewayAPI.gatewayClass=false"), "GatewayClass"), [])
        self.assertEqual(find(render(*with_crd, "--set", "gatewayAPI.enabled=false"), "GatewayClass"), [])

    def test_namespaced_mode_watching_the_release_namespace_adds_no_duplicate_rules(self):
        docs = render("--set", f"watchNamespaces={{team-a,{NS}}}")
        rules = rbac_check.extract_rules(list(docs), None)
        self.assertEqual(rule_set(rules["grants"], NS), sorted(WATCH_RULES + LEASE_RULES))

    def test_bring_your_own_secrets_generates_none_and_points_everything_at_them(self):
        docs = variant("byo-secrets")
        self.assertEqual(find(docs, "Secret"), [])
        a = args_map(container(docs, "tollgate-controller"))
        self.assertEqual(a["config-token-secret"], f"{NS}/my-config-token")
        self.assertEqual(a["signing-key-secret"], f"{NS}/my-signing-keys")
        self.assertEqual(a["config-tls-secret"], f"{NS}/my-config-tls")
        self.assertNotIn("--create-config-tls-secret", container(docs, "tollgate-controller")["args"])
        vols = one(docs, "Deployment", "tollgate-proxy")["spec"]["template"]["spec"]["volumes"]
        self.assertIn("my-config-token", [v.get("secret", {}).get("secretName") for v in vols])

    def test_tls_secret_is_mounted_and_passed_to_the_proxy(self):
        docs = variant("tls")
        c = container(docs, "tollgate-proxy")
        a = args_map(c)
        mount = next(m for m in c["volumeMounts"] if m["name"] == "tls")
        self.assertEqual((a["tls-cert"], a["tls-key"]),
                         (mount["mountPath"] + "/tls.crt", mount["mountPath"] + "/tls.key"))
        vol = next(v for v in one(docs, "Deployment", "tollgate-proxy")["spec"]["template"]["spec"]
                   ["volumes"] if v["name"] == "tls")
        self.assertEqual(vol["secret"]["secretName"], "gateway-tls")
        self.assertEqual(a["access-log"], "off")
        # Each SNI Secret in a subdirectory of the one --tls-sni-dir, holding tls.crt and tls.key.
        spec = one(docs, "Deployment", "tollgate-proxy")["spec"]["template"]["spec"]
        sni_mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]
                      if m["name"].startswith("tls-sni-")}
        sni_volumes = {v["name"]: v["secret"] for v in spec["volumes"]
                       if v["name"].startswith("tls-sni-")}
        self.assertEqual(sorted(sni_mounts.values()),
                         [a["tls-sni-dir"] + "/api-example-com-tls",
                          a["tls-sni-dir"] + "/wildcard-apps-tls"])
        for name, secret in sni_volumes.items():
            self.assertEqual(sni_mounts[name], a["tls-sni-dir"] + "/" + secret["secretName"])
            self.assertEqual(sorted(i["path"] for i in secret["items"]), ["tls.crt", "tls.key"])
        self.assertEqual(a["trusted-proxies"], "10.0.0.0/8")
        # The backend address policy goes to the proxies and the controller alike.
        for name in ["tollgate-proxy", "tollgate-controller"]:
            with self.subTest(container=name):
                args = container(docs, name)["args"]
                self.assertEqual(
                    [x for x in args if x.startswith("--backend-")],
                    ["--backend-allow-cidr=169.254.20.10/32", "--backend-allow-cidr=127.0.0.0/8",
                     "--backend-deny-cidr=10.96.0.1/32"])
        svc = one(docs, "Service", "tollgate-proxy")["spec"]
        self.assertEqual(svc["type"], "NodePort")
        self.assertEqual([p["nodePort"] for p in svc["ports"]], [30080, 30443])

    def test_service_monitor_scrapes_the_metrics_port_of_proxies_and_controller(self):
        docs = variant("servicemonitor")
        sm = one(docs, "ServiceMonitor")
        self.assertEqual(sm["metadata"]["labels"]["release"], "prometheus")
        self.assertEqual([(e["port"], e["path"], e["interval"]) for e in sm["spec"]["endpoints"]],
                         [("metrics", "/metrics", "15s")])
        selector = sm["spec"]["selector"]["matchLabels"]
        scraped = sorted(d["metadata"]["name"] for d in find(docs, "Service")
                         if selector.items() <= d["metadata"]["labels"].items())
        self.assertEqual(scraped, ["tollgate-controller-metrics", "tollgate-proxy-config"])
        for name in scraped:
            ports = one(docs, "Service", name)["spec"]["ports"]
            self.assertIn("metrics", [p["name"] for p in ports])

    def test_no_dashboard_and_no_per_consumer_series_by_default(self):
        docs = render()
        self.assertEqual([d for d in find(docs, "ConfigMap")
                          if "grafana_dashboard" in d["metadata"].get("labels", {})], [])
        self.assertNotIn("--metrics-per-consumer", container(docs, "tollgate-proxy")["args"])

    def test_grafana_dashboard_configmap_carries_the_sidecar_label_and_the_shipped_dashboard(self):
        docs = variant("grafana-dashboard")
        cm = one(docs, "ConfigMap", "tollgate-dashboard", NS)
        self.assertEqual(cm["metadata"]["labels"]["grafana_dashboard"], "1")
        self.assertEqual(cm["metadata"]["annotations"], {"grafana_folder": "Tollgate"})
        with open(os.path.join(CHART, "dashboards", "tollgate.json"), encoding="utf-8") as f:
            shipped = json.load(f)
        self.assertEqual(json.loads(cm["data"]["tollgate.json"]), shipped)
        self.assertEqual(shipped["uid"], "tollgate-gateway")
        exprs = [t["expr"] for p in shipped["panels"] for t in p.get("targets", [])]
        self.assertTrue(exprs and all("tollgate_" in e for e in exprs), exprs)
        self.assertIn("--metrics-per-consumer", container(docs, "tollgate-proxy")["args"])
        # The sidecar may look in another namespace.
        docs = render("--set", "grafanaDashboard.enabled=true",
                      "--set", "grafanaDashboard.namespace=monitoring")
        self.assertEqual(one(docs, "ConfigMap", "tollgate-dashboard")["metadata"]["namespace"],
                         "monitoring")

    def test_service_can_be_a_cluster_ip_with_custom_ports(self):
        docs = render("--set", "proxy.service.type=ClusterIP", "--set", "proxy.service.http.port=8080",
                      "--set", "proxy.service.https.enabled=false")
        svc = one(docs, "Service", "tollgate-proxy")["spec"]
        self.assertEqual(svc["type"], "ClusterIP")
        self.assertEqual([(p["port"], p["targetPort"]) for p in svc["ports"]], [(8080, "http")])

    def test_a_release_name_without_tollgate_prefixes_every_name_and_the_lease(self):
        helm = helm_binary()
        if helm is None:
            self.skipTest("helm not installed")
        proc = subprocess.run([helm, "template", "edge", CHART, "--namespace", NS],
                              capture_output=True, text=True, check=True)
        docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
        a = args_map(container(docs, "edge-tollgate-controller"))
        self.assertEqual(a["lease-name"], "edge-tollgate-controller")
        lease_rule = next(g for g in rbac_check.extract_rules(docs, None)["grants"]
                          if g["resourceNames"])
        self.assertEqual(lease_rule["resourceNames"], ["edge-tollgate-controller"])


class SchemaTest(unittest.TestCase):
    # values file -> the JSON pointer the error must name
    CASES = {
        "replicas-not-an-integer.yaml": "/proxy/replicas",
        "misspelt-key.yaml": "replica",
        "misspelt-top-level-key.yaml": "watchNamespace",
        "service-type-not-allowed.yaml": "/proxy/service/type",
        "node-port-out-of-range.yaml": "/proxy/service/http/nodePort",
        "boolean-as-string.yaml": "/serviceMonitor/enabled",
        "watch-namespaces-not-a-list.yaml": "/watchNamespaces",
        "backend-cidr-not-a-cidr.yaml": "/proxy/backendAddressPolicy/allowCidrs/0",
    }

    def test_every_invalid_values_file_is_covered_by_a_case(self):
        self.assertEqual(sorted(os.listdir(INVALID)), sorted(self.CASES))

    def test_values_that_break_the_schema_fail_rendering_with_the_offending_field(self):
        for name, pointer in self.CASES.items():
            with self.subTest(values=name):
                proc = helm_template("-f", os.path.join(INVALID, name))
                self.assertNotEqual(proc.returncode, 0, f"{name} rendered without error")
                self.assertIn("schema", proc.stderr)
                self.assertIn(pointer, proc.stderr)

    def test_every_ci_variant_passes_the_schema(self):
        for name in sorted(os.listdir(CI)):
            with self.subTest(values=name):
                proc = helm_template("-f", os.path.join(CI, name))
                self.assertEqual(proc.returncode, 0, proc.stderr)


class CrdTest(unittest.TestCase):
    # That the chart's CRDs are the generated ones is checked once, by controller/tests/crds.rs.
    def test_rbac_names_exactly_the_resources_the_crds_define(self):
        chart = os.path.join(CHART, "crds")
        plurals = set()
        for name in os.listdir(chart):
            if name.endswith((".yaml", ".yml")):
                with open(os.path.join(chart, name)) as f:
                    for doc in yaml.safe_load_all(f):
                        if doc and doc.get("kind") == "CustomResourceDefinition":
                            self.assertEqual(doc["spec"]["group"], "tollgate.dev")
                            plurals.add(doc["spec"]["names"]["plural"])
        if not plurals:
            self.skipTest("charts/tollgate/crds/ has no CRD yet")
        self.assertEqual(plurals, set(CRDS))


if __name__ == "__main__":
    unittest.main()
