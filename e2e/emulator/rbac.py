"""Checks an audit log against RBAC manifests: is every request one user made allowed by the Roles
and ClusterRoles bound to a ServiceAccount?

    python -m emulator.rbac --audit audit.jsonl --manifests rendered-chart.yaml \\
        --user tollgate-controller --service-account default/tg-tollgate-controller

Prints one line per denied request and a summary; exits 1 when any request is denied.
Follows the RBAC authorizer: RoleBindings grant in their namespace (to a Role or a ClusterRole),
ClusterRoleBindings everywhere; ``*`` wildcards; ``resource/subresource``; ``resourceNames`` only
for get/update/patch/delete of a named object; ``nonResourceURLs`` (with a trailing ``*``)."""

from __future__ import annotations

import argparse
import json
import sys

import yaml

NAMED_VERBS = {"get", "update", "patch", "delete"}


def _binds(binding: dict, sa_ns: str, sa_name: str) -> bool:
    for s in binding.get("subjects") or []:
        if s.get("kind") == "ServiceAccount" and s.get("name") == sa_name and s.get("namespace", sa_ns) == sa_ns:
            return True
    return False


def grants(manifests: list[dict], sa_ns: str, sa_name: str) -> list[tuple[str | None, dict]]:
    """(namespace or None for cluster-wide, rule) for every rule bound to the ServiceAccount."""
    roles = {(d.get("kind"), d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in manifests}
    out = []
    for d in manifests:
        kind = d.get("kind")
        if kind not in ("RoleBinding", "ClusterRoleBinding") or not _binds(d, sa_ns, sa_name):
            continue
        ref = d.get("roleRef") or {}
        ns = d["metadata"].get("namespace") if kind == "RoleBinding" else None
        if ref.get("kind") == "ClusterRole":
            role = roles.get(("ClusterRole", None, ref.get("name")))
        else:
            role = roles.get(("Role", d["metadata"].get("namespace"), ref.get("name")))
        for rule in (role or {}).get("rules") or []:
            out.append((ns, rule))
    return out


def _has(values, item: str) -> bool:
    return "*" in (values or []) or item in (values or [])


def allowed(entry: dict, rules: list[tuple[str | None, dict]]) -> bool:
    if "nonResourceURL" in entry:
        path = entry["nonResourceURL"]
        for ns, rule in rules:
            if ns is not None or not _has(rule.get("verbs"), entry["verb"]):
                continue
            for url in rule.get("nonResourceURLs") or []:
                if url == path or url == "*" or (url.endswith("*") and path.startswith(url[:-1])):
                    return True
        return False
    resource = entry["resource"] + (f"/{entry['subresource']}" if entry.get("subresource") else "")
    for ns, rule in rules:
        if ns is not None and entry.get("namespace") != ns:
            continue
        if not (_has(rule.get("apiGroups"), entry["apiGroup"]) and _has(rule.get("verbs"), entry["verb"])):
            continue
        if not (_has(rule.get("resources"), resource)):
            continue
        names = rule.get("resourceNames")
        if names and not (entry["verb"] in NAMED_VERBS and entry.get("name") in names):
            continue
        return True
    return False


def check(audit_lines: list[dict], manifests: list[dict], user: str, sa: str) -> tuple[int, list[dict]]:
    """(number of requests checked, the denied ones)."""
    sa_ns, _, sa_name = sa.partition("/")
    rules = grants(manifests, sa_ns, sa_name)
    mine = [e for e in audit_lines if e.get("user") == user]
    return len(mine), [e for e in mine if not allowed(e, rules)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m emulator.rbac", description=__doc__.split("\n\n")[0])
    p.add_argument("--audit", required=True, help="the emulator's --audit-log file")
    p.add_argument("--manifests", required=True, nargs="+", help="YAML files with Roles, ClusterRoles and bindings")
    p.add_argument("--user", required=True, help="the audit log's user (the bearer token of --kubeconfig-for)")
    p.add_argument("--service-account", required=True, metavar="NS/NAME", help="the ServiceAccount the RBAC binds")
    args = p.parse_args(argv)
    manifests = []
    for path in args.manifests:
        with open(path, encoding="utf-8") as f:
            manifests += [d for d in yaml.safe_load_all(f) if isinstance(d, dict) and d.get("metadata")]
    with open(args.audit, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    checked, denied = check(lines, manifests, args.user, args.service_account)
    for e in denied:
        what = e.get("nonResourceURL") or "/".join(
            x for x in (e.get("apiGroup") or "core", e.get("resource"), e.get("subresource")) if x
        )
        print(f"denied: {e['verb']} {what} namespace={e.get('namespace', '')!r} name={e.get('name', '')!r}")
    print(f"rbac: {checked} requests by {args.user!r} checked, {len(denied)} denied")
    return 1 if denied or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
