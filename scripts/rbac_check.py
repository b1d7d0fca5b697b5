#!/usr/bin/env python3
"""Check recorded Kubernetes API requests against the RBAC rules the Helm chart grants.

Usage:
  rbac_check.py RULES AUDIT [--user-agent SUBSTR] [--release-namespace NS]
      RULES: a rules JSON file written by --extract, a rendered manifest file (YAML), or the chart
             directory (rendered with `helm template` and default values).
      AUDIT: JSON lines, one request each (the API emulator's audit log, or Kubernetes audit Events).
      Exit 0 when every request is allowed, 1 when some are not (each denied request is printed),
      2 on bad input.
  rbac_check.py --extract RENDERED.yaml [-o rules.json] [--service-account NS/NAME]
      Writes the rules bound to the controller's ServiceAccount as JSON.

An audit line may be a flat record or a Kubernetes audit Event; these fields are read (first found):
  verb                      get|list|watch|create|update|patch|delete|deletecollection
                            (or an HTTP method, mapped the way the API server does)
  apiGroup | group | objectRef.apiGroup       ("" or "core" or missing: the core group)
  resource | objectRef.resource
  subresource | objectRef.subresource
  namespace | objectRef.namespace
  name | objectRef.name
  userAgent | user_agent
  requestURI | uri | path   parsed when resource is missing (/api/v1/namespaces/ns/secrets/x, ...)
Requests to non-resource URLs (/version, /api, /apis, /openapi/..., /healthz) are skipped: every
authenticated user may make them (system:discovery, system:public-info-viewer).

Rules JSON: {"serviceAccount": {...}, "releaseNamespace": NS, "grants": [
  {"namespace": null | NS, "apiGroups": [...], "resources": [...], "verbs": [...],
   "resourceNames": [...], "source": "ClusterRole/x"}]}
namespace null means cluster-wide (a ClusterRole bound by a ClusterRoleBinding).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

DISCOVERY_PREFIXES = ("/version", "/openapi", "/healthz", "/livez", "/readyz", "/.well-known")
READ_METHODS = {"GET": "get", "HEAD": "get"}


class InputError(Exception):
    """The rules or the audit log could not be read."""


@dataclass(frozen=True)
class Request:
    verb: str
    api_group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    user_agent: str

    def describe(self) -> str:
        res = self.resource + (f"/{self.subresource}" if self.subresource else "")
        group = self.api_group or "core"
        where = f"namespace {self.namespace}" if self.namespace else "cluster scope"
        name = f" name={self.name}" if self.name else ""
        return f"{self.verb} {group} {res} ({where}){name}"


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------


def extract_rules(docs: list[dict], service_account: str | None) -> dict:
    """Grants bound to the controller's ServiceAccount in rendered manifests."""
    docs = [d for d in docs if isinstance(d, dict) and d.get("kind")]
    sa_ns, sa_name = _find_service_account(docs, service_account)
    cluster_roles = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ClusterRole"}
    roles = {
        (d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
        for d in docs
        if d["kind"] == "Role"
    }
    grants = []
    for binding in docs:
        if binding["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        if not any(
            s.get("kind") == "ServiceAccount"
            and s.get("name") == sa_name
            and s.get("namespace") == sa_ns
            for s in binding.get("subjects") or []
        ):
            continue
        ref = binding["roleRef"]
        binding_ns = binding["metadata"].get("namespace")
        if ref["kind"] == "ClusterRole":
            role = cluster_roles.get(ref["name"])
            scope = None if binding["kind"] == "ClusterRoleBinding" else binding_ns
        else:
            role = roles.get((binding_ns, ref["name"]))
            scope = binding_ns
        if role is None:
            raise InputError(f"{binding['kind']} {binding['metadata']['name']} refers to missing "
                             f"{ref['kind']} {ref['name']}")
        for rule in role.get("rules") or []:
            grants.append({
                "namespace": scope,
                "apiGroups": list(rule.get("apiGroups") or []),
                "resources": list(rule.get("resources") or []),
                "verbs": list(rule.get("verbs") or []),
                "resourceNames": list(rule.get("resourceNames") or []),
                "source": f"{role['kind']}/{role['metadata']['name']}",
            })
    return {
        "serviceAccount": {"namespace": sa_ns, "name": sa_name},
        "releaseNamespace": sa_ns,
        "grants": grants,
    }


def _find_service_account(docs: list[dict], wanted: str | None) -> tuple[str, str]:
    if wanted:
        ns, _, name = wanted.partition("/")
        if not name:
            raise InputError("--service-account must be NAMESPACE/NAME")
        return ns, name
    for d in docs:
        labels = (d.get("metadata") or {}).get("labels") or {}
        if d["kind"] == "ServiceAccount" and labels.get("app.kubernetes.io/component") == "controller":
            return d["metadata"].get("namespace", "default"), d["metadata"]["name"]
    for d in docs:  # no ServiceAccount rendered (serviceAccount.create=false): take a binding's
        if d["kind"] == "ClusterRoleBinding":
            for s in d.get("subjects") or []:
                if s.get("kind") == "ServiceAccount":
                    return s.get("namespace", "default"), s["name"]
    raise InputError("no controller ServiceAccount found; pass --service-account NS/NAME")


def load_rules(path: str) -> dict:
    if os.path.isdir(path):
        return extract_rules(_load_yaml_docs(_helm_template(path)), None)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".json"):
        try:
            rules = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}: not JSON: {e}") from e
        if not isinstance(rules, dict) or not isinstance(rules.get("grants"), list):
            raise InputError(f"{path}: no 'grants' list")
        return rules
    return extract_rules(_load_yaml_docs(text), None)


def _helm_template(chart: str) -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    local = os.path.join(here, "..", ".tools", "bin", "helm")
    helm = local if os.access(local, os.X_OK) else shutil.which("helm")
    if not helm:
        raise InputError("helm not found: run scripts/tools.sh")
    proc = subprocess.run(
        [helm, "template", "tollgate", chart, "--namespace", "tollgate-system"],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise InputError(f"helm template failed: {proc.stderr.strip()}")
    return proc.stdout


def _load_yaml_docs(text: str) -> list[dict]:
    try:
        import yaml  # PyYAML, in the project .venv (e2e/chart/requirements.txt)
    except ImportError as e:
        raise InputError("reading YAML needs PyYAML: use .venv/bin/python "
                         "(pip install -r e2e/chart/requirements.txt)") from e
    return [d for d in yaml.safe_load_all(text) if d]


# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------


def parse_request(record: dict) -> Request | None:
    """A Request, or None for a non-resource request (discovery, version, health)."""
    ref = record.get("objectRef") or {}

    def field(*names: str) -> str:
        for n in names:
            for src in (record, ref):
                v = src.get(n)
                if v not in (None, ""):
                    return str(v)
        return ""

    if record.get("nonResourceURL"):
        return None
    uri = field("requestURI", "uri", "path", "url")
    parsed = _parse_uri(uri) if uri else None
    resource = field("resource")
    if not resource:
        if parsed is None:
            if uri and _is_non_resource(uri):
                return None
            raise InputError(f"cannot tell the resource of {json.dumps(record)[:200]}")
        if parsed.get("non_resource"):
            return None
    p = parsed or {}
    api_group = field("apiGroup", "group") or p.get("group", "")
    if api_group == "core":
        api_group = ""
    verb = field("verb") or ""
    name = field("name") or p.get("name", "")
    if verb.upper() in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        verb = _verb_from_method(verb.upper(), bool(name), p.get("watch", False))
    verb = verb.lower()
    if verb == "list" and p.get("watch"):
        verb = "watch"
    subresource = field("subresource") or p.get("subresource", "")
    if verb == "create" and not subresource:
        name = ""  # the API server authorizes a create without a name: resourceNames never match it
    return Request(
        verb=verb,
        api_group=api_group,
        resource=resource or p.get("resource", ""),
        subresource=subresource,
        namespace=field("namespace") or p.get("namespace", ""),
        name=name,
        user_agent=field("userAgent", "user_agent"),
    )


def _is_non_resource(uri: str) -> bool:
    path = urlsplit(uri).path.rstrip("/")
    return path in ("", "/api", "/apis") or path.startswith(DISCOVERY_PREFIXES)


def _parse_uri(uri: str) -> dict | None:
    split = urlsplit(uri)
    query = parse_qs(split.query)
    watch = query.get("watch", ["false"])[0] in ("true", "1")
    parts = [p for p in split.path.split("/") if p]
    if _is_non_resource(uri):
        return {"non_resource": True}
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return {"non_resource": True} if len(parts) <= 2 else None
    if not rest:
        return {"non_resource": True}  # discovery of one group version
    if rest[0] == "watch":  # legacy /watch/ prefix
        watch, rest = True, rest[1:]
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    elif rest[0] == "namespaces" and len(rest) == 2:
        # /api/v1/namespaces/NAME: the namespace object itself
        return {"group": group, "resource": "namespaces", "name": rest[1], "namespace": "",
                "subresource": "", "watch": watch}
    return {
        "group": group,
        "namespace": namespace,
        "resource": rest[0],
        "name": rest[1] if len(rest) > 1 else "",
        "subresource": rest[2] if len(rest) > 2 else "",
        "watch": watch,
    }


def _verb_from_method(method: str, has_name: bool, watch: bool) -> str:
    if method in READ_METHODS:
        if watch:
            return "watch"
        return "get" if has_name else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if has_name else "deletecollection"}[method]


def read_audit(path: str) -> list[dict]:
    records = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{lineno}: not JSON: {e}") from e
    return records


# ---------------------------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------------------------


def allowed(req: Request, grants: list[dict]) -> bool:
    return any(_grant_allows(g, req) for g in grants)


def _grant_allows(grant: dict, req: Request) -> bool:
    scope = grant.get("namespace")
    if scope is not None and req.namespace != scope:
        return False  # a Role covers only its namespace, never cluster-scoped or all-namespace calls
    if not ({"*", req.verb} & set(grant.get("verbs", []))):
        return False
    if not ({"*", req.api_group} & set(grant.get("apiGroups", []))):
        return False
    wanted = req.resource + (f"/{req.subresource}" if req.subresource else "")
    resources = set(grant.get("resources", []))
    if not ({"*", wanted} & resources) and not (
        req.subresource and f"*/{req.subresource}" in resources
    ):
        return False
    names = grant.get("resourceNames") or []
    return not names or (bool(req.name) and req.name in names)


def remap_release_namespace(rules: dict, namespace: str | None) -> list[dict]:
    grants = rules["grants"]
    old = rules.get("releaseNamespace")
    if not namespace or not old or namespace == old:
        return grants
    return [dict(g, namespace=namespace) if g.get("namespace") == old else g for g in grants]


def check(rules: dict, records: list[dict], user_agent: str | None,
          release_namespace: str | None) -> tuple[int, Counter]:
    grants = remap_release_namespace(rules, release_namespace)
    denied: Counter = Counter()
    checked = 0
    for record in records:
        req = parse_request(record)
        if req is None:
            continue
        if user_agent and user_agent not in req.user_agent:
            continue
        checked += 1
        if not allowed(req, grants):
            denied[req.describe()] += 1
    return checked, denied


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rules", help="rules JSON, rendered YAML, or chart directory")
    parser.add_argument("audit", nargs="?", help="audit log (JSON lines)")
    parser.add_argument("--extract", action="store_true", help="write the rules JSON and exit")
    parser.add_argument("-o", "--output", help="with --extract: file to write (default stdout)")
    parser.add_argument("--service-account", help="NS/NAME of the controller's ServiceAccount")
    parser.add_argument("--user-agent", help="check only requests whose user agent contains this")
    parser.add_argument("--release-namespace",
                        help="the namespace the controller ran in, if not the rules' release namespace")
    args = parser.parse_args(argv)
    try:
        if args.extract:
            if os.path.isdir(args.rules):
                docs = _load_yaml_docs(_helm_template(args.rules))
            else:
                with open(args.rules, encoding="utf-8") as f:
                    docs = _load_yaml_docs(f.read())
            out = json.dumps(extract_rules(docs, args.service_account), indent=2) + "\n"
            if args.output:
                with open(args.output, "w", encoding="utf-8") as f:
                    f.write(out)
            else:
                sys.stdout.write(out)
            return 0
        if not args.audit:
            parser.error("AUDIT is required unless --extract")
        rules = load_rules(args.rules)
        checked, denied = check(rules, read_audit(args.audit), args.user_agent,
                                args.release_namespace)
    except (InputError, OSError, KeyError) as e:
        print(f"rbac_check: {e}", file=sys.stderr)
        return 2
    for desc, count in sorted(denied.items()):
        print(f"DENIED {desc}  x{count}")
    total_denied = sum(denied.values())
    print(f"rbac_check: {checked} requests checked, {checked - total_denied} allowed, "
          f"{total_denied} denied ({len(denied)} distinct)")
    if checked == 0:
        print("rbac_check: no request matched; nothing was checked", file=sys.stderr)
        return 1
    return 1 if denied else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
