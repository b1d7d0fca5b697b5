"""The audit-log RBAC checker, on small manifests."""

from __future__ import annotations

import pytest

from emulator.rbac import check

MANIFESTS = [
    {
        "kind": "ClusterRole",
        "metadata": {"name": "ctl"},
        "rules": [
            {"apiGroups": ["tollgate.dev"], "resources": ["consumers"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["tollgate.dev"], "resources": ["consumers/status"], "verbs": ["patch"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["token"]},
            {"nonResourceURLs": ["/version", "/apis/*"], "verbs": ["get"]},
        ],
    },
    {
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "ctl"},
        "roleRef": {"kind": "ClusterRole", "name": "ctl"},
        "subjects": [{"kind": "ServiceAccount", "name": "ctl", "namespace": "sys"}],
    },
    {
        "kind": "Role",
        "metadata": {"name": "lease", "namespace": "sys"},
        "rules": [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]},
        ],
    },
    {
        "kind": "RoleBinding",
        "metadata": {"name": "lease", "namespace": "sys"},
        "roleRef": {"kind": "Role", "name": "lease"},
        "subjects": [{"kind": "ServiceAccount", "name": "ctl", "namespace": "sys"}],
    },
]


def _req(verb, group, resource, ns="", name="", sub=""):
    return {
        "user": "ctl",
        "verb": verb,
        "apiGroup": group,
        "resource": resource,
        "subresource": sub,
        "namespace": ns,
        "name": name,
    }


@pytest.mark.parametrize(
    "entry, ok",
    [
        (_req("watch", "tollgate.dev", "consumers"), True),
        (_req("patch", "tollgate.dev", "consumers", "a", "x", sub="status"), True),
        (_req("patch", "tollgate.dev", "consumers", "a", "x"), False),
        (_req("get", "", "secrets", "a", "token"), True),
        (_req("get", "", "secrets", "a", "other"), False),
        (_req("list", "", "secrets"), False),
        (_req("update", "coordination.k8s.io", "leases", "sys", "l"), True),
        (_req("update", "coordination.k8s.io", "leases", "other", "l"), False),
        ({"user": "ctl", "verb": "get", "nonResourceURL": "/apis/tollgate.dev/v1alpha1"}, True),
        ({"user": "ctl", "verb": "get", "nonResourceURL": "/openapi/v3"}, False),
    ],
)
def test_each_request_is_judged_like_the_rbac_authorizer(entry, ok):
    checked, denied = check([entry], MANIFESTS, "ctl", "sys/ctl")
    assert checked == 1 and (denied == []) is ok


def test_requests_of_other_users_are_not_checked():
    checked, denied = check([dict(_req("delete", "", "nodes"), user="kubectl")], MANIFESTS, "ctl", "sys/ctl")
    assert (checked, denied) == (0, [])
