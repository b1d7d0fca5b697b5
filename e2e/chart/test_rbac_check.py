"""Tests of scripts/rbac_check.py: request parsing and the allow/deny decision.

Run: .venv/bin/python -m unittest discover -s e2e/chart   (or pytest e2e/chart)
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import rbac_check  # noqa: E402

NS = "tollgate-system"
CRDS = ["consumers", "oauth2credentials", "gatewayroutes", "authplugins"]


def grant(verbs, resources, groups=("",), namespace=None, names=()):
    return {"namespace": namespace, "apiGroups": list(groups), "resources": list(resources),
            "verbs": list(verbs), "resourceNames": list(names), "source": "test"}


RULES = {
    "releaseNamespace": NS,
    "grants": [
        grant(["get", "list", "watch"], CRDS, ["tollgate.dev"]),
        grant(["get", "patch", "update"], [f"{c}/status" for c in CRDS], ["tollgate.dev"]),
        grant(["get", "list", "watch"], ["secrets"]),
        grant(["create"], ["leases"], ["coordination.k8s.io"], NS),
        grant(["get", "update", "patch"], ["leases"], ["coordination.k8s.io"], NS,
              ["tollgate-controller"]),
        grant(["list", "watch"], ["endpointslices"], ["discovery.k8s.io"], "team-a"),
    ],
}


class ParseRequestTest(unittest.TestCase):
    CASES = [
        # (record, expected (verb, group, resource, subresource, namespace, name) or None)
        ({"verb": "watch", "apiGroup": "tollgate.dev", "resource": "consumers"},
         ("watch", "tollgate.dev", "consumers", "", "", "")),
        ({"verb": "patch", "objectRef": {"apiGroup": "tollgate.dev", "resource": "consumers",
                                         "subresource": "status", "namespace": "a", "name": "jane"}},
         ("patch", "tollgate.dev", "consumers", "status", "a", "jane")),
        ({"verb": "GET", "requestURI": "/api/v1/namespaces/a/secrets?labelSelector=x&watch=true"},
         ("watch", "", "secrets", "", "a", "")),
        ({"verb": "GET", "requestURI": "/api/v1/secrets?labelSelector=tollgate.dev%2Fsecret"},
         ("list", "", "secrets", "", "", "")),
        ({"method": "GET", "verb": "get",
          "path": "/apis/coordination.k8s.io/v1/namespaces/tollgate-system/leases/tollgate-controller"},
         ("get", "coordination.k8s.io", "leases", "", NS, "tollgate-controller")),
        ({"verb": "PUT",
          "requestURI": "/apis/tollgate.dev/v1alpha1/namespaces/a/gatewayroutes/r/status"},
         ("update", "tollgate.dev", "gatewayroutes", "status", "a", "r")),
        ({"verb": "list", "requestURI": "/apis/discovery.k8s.io/v1/endpointslices?watch=1"},
         ("watch", "discovery.k8s.io", "endpointslices", "", "", "")),
        ({"verb": "create", "group": "core", "resource": "events", "namespace": "a", "name": "e1"},
         ("create", "", "events", "", "a", "")),
        # the API emulator's audit lines (e2e/emulator/server.py)
        ({"apiGroup": "", "apiVersion": "v1", "code": 201, "method": "POST", "name": "",
          "namespace": "", "path": "/api/v1/namespaces", "resource": "namespaces",
          "subresource": "", "userAgent": "kubectl/v1.32.4", "verb": "create"},
         ("create", "", "namespaces", "", "", "")),
        ({"apiGroup": "coordination.k8s.io", "apiVersion": "v1", "code": 200, "method": "PUT",
          "name": "tollgate-controller", "namespace": NS,
          "path": f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/tollgate-controller",
          "resource": "leases", "subresource": "", "userAgent": "kube-rs", "verb": "update"},
         ("update", "coordination.k8s.io", "leases", "", NS, "tollgate-controller")),
        ({"code": 200, "method": "GET", "nonResourceURL": "/openapi/v3", "path": "/openapi/v3",
          "userAgent": "kubectl/v1.32.4", "verb": "get"}, None),
        ({"verb": "get", "requestURI": "/version"}, None),
        ({"verb": "get", "requestURI": "/apis/tollgate.dev/v1alpha1"}, None),
        ({"verb": "get", "requestURI": "/openapi/v3/apis/tollgate.dev/v1alpha1"}, None),
        ({"verb": "get", "requestURI": "/api"}, None),
    ]

    def test_audit_records_of_every_supported_shape_parse_to_rbac_attributes(self):
        for record, expected in self.CASES:
            with self.subTest(record=record):
                req = rbac_check.parse_request(record)
                if expected is None:
                    self.assertIsNone(req)
                else:
                    self.assertIsNotNone(req)
                    self.assertEqual((req.verb, req.api_group, req.resource, req.subresource,
                                      req.namespace, req.name), expected)

    def test_a_record_without_resource_or_path_is_an_input_error(self):
        with self.assertRaises(rbac_check.InputError):
            rbac_check.parse_request({"verb": "get"})


class AllowedTest(unittest.TestCase):
    CASES = [
        # (request fields, allowed?)
        (("watch", "tollgate.dev", "consumers", "", "", ""), True),
        (("list", "tollgate.dev", "authplugins", "", "team-z", ""), True),
        (("patch", "tollgate.dev", "oauth2credentials", "status", "a", "c"), True),
        (("patch", "tollgate.dev", "oauth2credentials", "", "a", "c"), False),  # spec, not status
        (("delete", "tollgate.dev", "consumers", "", "a", "jane"), False),
        (("create", "", "secrets", "", "a", ""), False),
        (("list", "", "configmaps", "", "a", ""), False),
        (("list", "", "secrets", "", "", ""), True),
        (("create", "coordination.k8s.io", "leases", "", NS, ""), True),
        (("create", "coordination.k8s.io", "leases", "", "default", ""), False),
        (("update", "coordination.k8s.io", "leases", "", NS, "tollgate-controller"), True),
        (("update", "coordination.k8s.io", "leases", "", NS, "someone-else"), False),
        (("list", "coordination.k8s.io", "leases", "", NS, ""), False),
        (("watch", "discovery.k8s.io", "endpointslices", "", "team-a", ""), True),
        (("watch", "discovery.k8s.io", "endpointslices", "", "team-b", ""), False),
        (("watch", "discovery.k8s.io", "endpointslices", "", "", ""), False),  # all namespaces
        (("watch", "apps", "consumers", "", "", ""), False),  # same resource name, other group
    ]

    def test_each_request_is_allowed_exactly_when_a_grant_covers_it(self):
        for fields, expected in self.CASES:
            with self.subTest(fields=fields):
                req = rbac_check.Request(*fields, user_agent="tollgate-controller")
                self.assertEqual(rbac_check.allowed(req, RULES["grants"]), expected)

    def test_wildcards_in_grants_cover_verbs_groups_and_subresources(self):
        grants = [grant(["*"], ["*/status"], ["*"]), grant(["get"], ["*"], ["apps"])]
        self.assertTrue(rbac_check.allowed(
            rbac_check.Request("update", "x.io", "things", "status", "n", "t", ""), grants))
        self.assertTrue(rbac_check.allowed(
            rbac_check.Request("get", "apps", "deployments", "", "n", "d", ""), grants))
        self.assertFalse(rbac_check.allowed(
            rbac_check.Request("update", "x.io", "things", "", "n", "t", ""), grants))

    def test_release_namespace_grants_follow_the_namespace_the_controller_ran_in(self):
        grants = rbac_check.remap_release_namespace(RULES, "e2e-ns")
        req = rbac_check.Request("create", "coordination.k8s.io", "leases", "", "e2e-ns", "", "")
        self.assertTrue(rbac_check.allowed(req, grants))
        self.assertFalse(rbac_check.allowed(req, RULES["grants"]))


class MainTest(unittest.TestCase):
    def run_main(self, records, *extra):
        with tempfile.TemporaryDirectory() as tmp:
            rules = os.path.join(tmp, "rules.json")
            audit = os.path.join(tmp, "audit.jsonl")
            with open(rules, "w") as f:
                json.dump(RULES, f)
            with open(audit, "w") as f:
                f.write("\n".join(json.dumps(r) for r in records) + "\n")
            out, err = io.StringIO(), io.StringIO()
            with redirect_stdout(out), redirect_stderr(err):
                code = rbac_check.main([rules, audit, *extra])
            return code, out.getvalue() + err.getvalue()

    def test_an_audit_log_of_allowed_requests_passes(self):
        code, out = self.run_main([
            {"verb": "watch", "apiGroup": "tollgate.dev", "resource": "consumers",
             "userAgent": "tollgate-controller/0.1"},
            {"verb": "get", "requestURI": "/version", "userAgent": "tollgate-controller/0.1"},
        ])
        self.assertEqual(code, 0, out)
        self.assertIn("1 requests checked, 1 allowed, 0 denied", out)

    def test_a_denied_request_fails_the_check_and_is_named(self):
        code, out = self.run_main([
            {"verb": "delete", "apiGroup": "", "resource": "secrets", "namespace": "a",
             "name": "s", "userAgent": "tollgate-controller"},
            {"verb": "watch", "apiGroup": "tollgate.dev", "resource": "consumers",
             "userAgent": "tollgate-controller"},
        ])
        self.assertEqual(code, 1)
        self.assertIn("DENIED delete core secrets (namespace a) name=s", out)

    def test_requests_of_other_clients_are_ignored_with_a_user_agent_filter(self):
        code, out = self.run_main([
            {"verb": "delete", "resource": "secrets", "namespace": "a", "name": "s",
             "userAgent": "kubectl/v1.33"},
            {"verb": "list", "resource": "secrets", "userAgent": "tollgate-controller"},
        ], "--user-agent", "tollgate-controller")
        self.assertEqual(code, 0, out)

    def test_an_audit_log_with_nothing_to_check_fails_rather_than_passing_vacuously(self):
        code, out = self.run_main([{"verb": "list", "resource": "secrets", "userAgent": "kubectl"}],
                                  "--user-agent", "tollgate-controller")
        self.assertEqual(code, 1)
        self.assertIn("nothing was checked", out)

    def test_a_malformed_audit_line_is_an_input_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            rules, audit = os.path.join(tmp, "r.json"), os.path.join(tmp, "a.jsonl")
            with open(rules, "w") as f:
                json.dump(RULES, f)
            with open(audit, "w") as f:
                f.write("{not json\n")
            with redirect_stderr(io.StringIO()), redirect_stdout(io.StringIO()):
                self.assertEqual(rbac_check.main([rules, audit]), 2)


class ExtractTest(unittest.TestCase):
    def test_only_roles_bound_to_the_controller_service_account_are_extracted(self):
        docs = [
            {"kind": "ServiceAccount", "metadata": {
                "name": "ctl", "namespace": "sys",
                "labels": {"app.kubernetes.io/component": "controller"}}},
            {"kind": "ClusterRole", "metadata": {"name": "ctl"},
             "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]},
            {"kind": "ClusterRoleBinding", "metadata": {"name": "ctl"},
             "roleRef": {"kind": "ClusterRole", "name": "ctl"},
             "subjects": [{"kind": "ServiceAccount", "name": "ctl", "namespace": "sys"}]},
            {"kind": "ClusterRole", "metadata": {"name": "other"},
             "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]},
            {"kind": "ClusterRoleBinding", "metadata": {"name": "other"},
             "roleRef": {"kind": "ClusterRole", "name": "other"},
             "subjects": [{"kind": "ServiceAccount", "name": "proxy", "namespace": "sys"}]},
            {"kind": "Role", "metadata": {"name": "lease", "namespace": "sys"},
             "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                        "verbs": ["create"]}]},
            {"kind": "RoleBinding", "metadata": {"name": "lease", "namespace": "sys"},
             "roleRef": {"kind": "Role", "name": "lease"},
             "subjects": [{"kind": "ServiceAccount", "name": "ctl", "namespace": "sys"}]},
        ]
        rules = rbac_check.extract_rules(docs, None)
        self.assertEqual(rules["serviceAccount"], {"namespace": "sys", "name": "ctl"})
        self.assertEqual(
            [(g["namespace"], g["resources"], g["verbs"]) for g in rules["grants"]],
            [(None, ["secrets"], ["list"]), ("sys", ["leases"], ["create"])],
        )

    def test_a_binding_to_a_missing_role_is_an_input_error(self):
        docs = [{"kind": "RoleBinding", "metadata": {"name": "b", "namespace": "sys"},
                 "roleRef": {"kind": "Role", "name": "gone"},
                 "subjects": [{"kind": "ServiceAccount", "name": "ctl", "namespace": "sys"}]}]
        with self.assertRaises(rbac_check.InputError):
            rbac_check.extract_rules(docs, "sys/ctl")


if __name__ == "__main__":
    unittest.main()
