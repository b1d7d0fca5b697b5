"""Discovery documents (``/api``, ``/apis``, per group-version resource lists), ``/version`` and a
minimal OpenAPI v3 that tells kubectl the server validates fields itself (``fieldValidation``), so
a default ``kubectl apply`` needs no client-side schema."""

from __future__ import annotations

import hashlib
import json

from .registry import Registry

VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-tollgate-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions(host: str) -> dict:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    }


def _group_entry(name: str, versions: list[str]) -> dict:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(registry: Registry) -> dict:
    groups = [_group_entry(g, vs) for g, vs in registry.group_versions().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict | None:
    versions = registry.group_versions().get(group)
    if not versions or not group:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, versions)}


def resource_list(registry: Registry, group: str, version: str) -> dict | None:
    types = registry.resources_in(group, version)
    if not types:
        return None
    resources = [entry for rt in types for entry in rt.discovery_entries()]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


# ---------------------------------------------------------------- OpenAPI v3
_PATCH_PARAMS = [
    {"name": name, "in": "query", "schema": {"type": kind, "uniqueItems": True}}
    for name, kind in (
        ("dryRun", "string"),
        ("fieldManager", "string"),
        ("fieldValidation", "string"),
        ("force", "boolean"),
    )
]


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_gv_doc(registry: Registry, group: str, version: str) -> dict | None:
    types = registry.resources_in(group, version)
    if not types:
        return None
    paths: dict = {}
    schemas: dict = {}
    for rt in types:
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        ns = "namespaces/{namespace}/" if rt.namespaced else ""
        base = f"/{_gv_path(group, version)}/{ns}{rt.plural}"
        item_ops = {
            "get": {
                "operationId": f"read{rt.kind}",
                "x-kubernetes-action": "get",
                "x-kubernetes-group-version-kind": gvk,
            },
            "put": {
                "operationId": f"replace{rt.kind}",
                "x-kubernetes-action": "put",
                "x-kubernetes-group-version-kind": gvk,
                "parameters": _PATCH_PARAMS[:3],
            },
            "patch": {
                "operationId": f"patch{rt.kind}",
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
                "parameters": _PATCH_PARAMS,
            },
            "delete": {
                "operationId": f"delete{rt.kind}",
                "x-kubernetes-action": "delete",
                "x-kubernetes-group-version-kind": gvk,
            },
        }
        paths[f"{base}/{{name}}"] = item_ops
        paths[base] = {
            "get": {
                "operationId": f"list{rt.kind}",
                "x-kubernetes-action": "list",
                "x-kubernetes-group-version-kind": gvk,
            },
            "post": {
                "operationId": f"create{rt.kind}",
                "x-kubernetes-action": "post",
                "x-kubernetes-group-version-kind": gvk,
                "parameters": _PATCH_PARAMS[:3],
            },
        }
        if rt.status_subresource:
            paths[f"{base}/{{name}}/status"] = {
                k: dict(v, operationId=v["operationId"] + "Status") for k, v in item_ops.items() if k != "delete"
            }
        if rt.schema:
            name = ".".join(reversed(rt.group.split("."))) + f".{rt.version}.{rt.kind}"
            schemas[name] = dict(rt.schema, **{"x-kubernetes-group-version-kind": [gvk]})
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
        "paths": paths,
    }
    if schemas:
        doc["components"] = {"schemas": schemas}
    return doc


def openapi_root(registry: Registry) -> dict:
    paths = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            doc = openapi_gv_doc(registry, group, version)
            digest = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()
            gv = _gv_path(group, version)
            paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash={digest}"}
    return {"paths": paths}
