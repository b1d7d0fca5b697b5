"""The verbs of the Kubernetes API over the store: get, list, watch, create, update, patch, delete,
with optimistic concurrency, the ``status`` subresource, generation, schema validation and
selectors. HTTP lives in ``server.py``; this module only sees parsed requests."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from dataclasses import dataclass, field

import yaml

from . import objects, patch, schema
from .errors import ApiError, FieldError, already_exists, bad_request, invalid, not_found, stale
from .registry import Registry, ResourceType
from .selectors import parse_field_selector, parse_label_selector
from .store import Store
from .watch import open_watch

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NS_KEY = ("", "namespaces")


@dataclass
class Ctx:
    """One request: its query parameters, its client, and the warnings to answer with."""

    params: dict
    user_agent: str = ""
    warnings: list[str] = field(default_factory=list)
    partial: bool = False  # PartialObjectMetadata answers

    @property
    def dry_run(self) -> bool:
        return self.params.get("dryRun") == "All"


def _strip(obj: dict, drop_status: bool) -> dict:
    out = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")}
    if drop_status:
        out.pop("status", None)
    return out


def _comparable(obj: dict) -> dict:
    out = copy.deepcopy(obj)
    meta = out.get("metadata", {})
    for f in ("resourceVersion", "managedFields"):
        meta.pop(f, None)
    return out


class Api:
    def __init__(self, registry: Registry, store: Store):
        self.registry = registry
        self.store = store

    # ------------------------------------------------------------ start-up
    def bootstrap(self) -> None:
        """Default namespaces on a fresh store; CRDs from a loaded store become served again."""
        for crd in self.store.list(CRD_KEY, None)[0]:
            self.registry.set_crd(crd)
        ns_rt = self.registry.lookup("", "v1", "namespaces")
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            if self.store.get(NS_KEY, "", name) is None:
                self.create(ns_rt, None, {"metadata": {"name": name}}, Ctx({}))

    # ------------------------------------------------------------ rendering
    def render(self, rt: ResourceType, obj: dict, partial: bool = False) -> dict:
        out = objects.event_from_storage(rt, obj)
        out["apiVersion"] = rt.group_version
        out["kind"] = rt.kind
        if partial:
            return {
                "apiVersion": "meta.k8s.io/v1",
                "kind": "PartialObjectMetadata",
                "metadata": out.get("metadata", {}),
            }
        return out

    # ------------------------------------------------------------ reads
    def get(self, rt: ResourceType, ns: str | None, name: str, ctx: Ctx) -> dict:
        obj = self.store.get(rt.key, ns or "", name)
        if obj is None:
            raise not_found(rt, name)
        return self.render(rt, obj, ctx.partial)

    def matcher(self, rt, ns, params):
        labels = parse_label_selector(params.get("labelSelector"))
        fields = parse_field_selector(params.get("fieldSelector"))

        def match(obj: dict | None) -> bool:
            if obj is None:
                return False
            meta = obj.get("metadata", {})
            if ns is not None and meta.get("namespace", "") != ns:
                return False
            return labels(meta.get("labels")) and fields(self.render(rt, obj))

        return match

    def list(self, rt: ResourceType, ns: str | None, ctx: Ctx) -> dict:
        match = self.matcher(rt, ns, ctx.params)
        items, rv = self.store.list(rt.key, ns)
        items = [o for o in items if match(o)]
        token = ctx.params.get("continue")
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode()))
                rv, after = int(state["rv"]), tuple(state["after"])
            except (ValueError, KeyError, TypeError) as exc:
                raise bad_request(f"invalid continue token: {exc}") from exc
            items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after]
        meta: dict = {"resourceVersion": str(rv)}
        limit = int(ctx.params.get("limit") or 0)
        if limit > 0 and len(items) > limit:
            last = items[limit - 1]["metadata"]
            after = [last.get("namespace", ""), last["name"]]
            meta["continue"] = base64.urlsafe_b64encode(json.dumps({"rv": rv, "after": after}).encode()).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        if ctx.partial:
            return {
                "apiVersion": "meta.k8s.io/v1",
                "kind": "PartialObjectMetadataList",
                "metadata": meta,
                "items": [self.render(rt, o, True) for o in items],
            }
        return {
            "apiVersion": rt.group_version,
            "kind": f"{rt.kind}List",
            "metadata": meta,
            "items": [self.render(rt, o) for o in items],
        }

    # ------------------------------------------------------------ watch
    def watch(self, rt: ResourceType, ns: str | None, ctx: Ctx):
        return open_watch(self, rt, ns, ctx)

    # ------------------------------------------------------------ writes
    def _check_body(self, rt: ResourceType, body) -> dict:
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be an object")
        if body.get("kind") and body["kind"] != rt.kind:
            raise bad_request(
                f"the kind of the object ({body['kind']}) does not match the kind of the resource ({rt.kind})"
            )
        av = body.get("apiVersion")
        if av and (av.split("/")[0] if "/" in av else "") != rt.group:
            raise bad_request(
                f"the API version in the data ({av}) does not match the expected API version ({rt.group_version})"
            )
        if not isinstance(body.get("metadata", {}), dict):
            raise bad_request("metadata must be an object")
        body.setdefault("metadata", {})
        return body

    def _ensure_namespace(self, rt: ResourceType, ns: str | None) -> None:
        if rt.namespaced and self.store.get(NS_KEY, "", ns or "") is None:
            raise ApiError(404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"})

    def _finish(self, rt, ns, new: dict, old: dict | None, sub: str | None, ctx: Ctx) -> tuple[dict, bool]:
        """Validate and store ``new``: returns (stored object, whether anything was written)."""
        meta = new["metadata"]
        name = meta["name"]
        new["apiVersion"] = rt.group_version
        new["kind"] = rt.kind
        if rt.namespaced:
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if old is not None:
            om = old["metadata"]
            if sub == "status":
                mf = meta.get("managedFields", om.get("managedFields"))
                status = new.get("status")
                new = copy.deepcopy(old)
                new["apiVersion"], new["kind"] = rt.group_version, rt.kind
                if status is None:
                    new.pop("status", None)
                else:
                    new["status"] = status
                if mf is not None:
                    new["metadata"]["managedFields"] = mf
                meta = new["metadata"]
            elif rt.status_subresource:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
            for f in ("uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds"):
                if f in om:
                    meta[f] = om[f]
                else:
                    meta.pop(f, None)
            if "managedFields" not in meta and "managedFields" in om:
                meta["managedFields"] = om["managedFields"]
        new = objects.event_to_storage(rt, new)
        errors: list[FieldError] = []
        errors += objects.validate_metadata(meta)
        errors += objects.normalize(rt, new, old)
        if rt.schema:
            new, pruned, schema_errors = schema.process(new, rt.schema, old)
            errors += schema_errors
            if pruned:
                self._unknown_fields(rt, pruned, ctx)
        if errors:
            raise invalid(rt, name, errors)
        if old is not None:
            drop_status = rt.status_subresource or not rt.is_crd
            if sub != "status" and _strip(old, drop_status) != _strip(new, drop_status):
                new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
            if _comparable(old) == _comparable(new):
                return old, False
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
                if not ctx.dry_run:
                    return self._remove(rt, old), True
                return new, False
        if ctx.dry_run:
            return new, False
        stored = self.store.put(rt.key, new, old)
        if rt.key == CRD_KEY:
            self.registry.set_crd(stored)
        return stored, True

    def _unknown_fields(self, rt, pruned: list[str], ctx: Ctx) -> None:
        mode = ctx.params.get("fieldValidation", "Warn")
        if mode == "Strict":
            detail = ", ".join(f'unknown field "{p}"' for p in pruned)
            raise bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: strict decoding error: {detail}'
            )
        if mode == "Warn":
            ctx.warnings.extend(f'unknown field "{p}"' for p in pruned)

    def create(self, rt: ResourceType, ns: str | None, body, ctx: Ctx) -> dict:
        body = self._check_body(rt, copy.deepcopy(body))
        meta = body["metadata"]
        if rt.namespaced:
            if meta.get("namespace") and ns and meta["namespace"] != ns:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            ns = ns or meta.get("namespace") or "default"
        with self.store.cond:
            if not meta.get("name"):
                if not meta.get("generateName"):
                    raise invalid(
                        rt,
                        "",
                        [
                            FieldError(
                                "metadata.name",
                                "FieldValueRequired",
                                "Required value: name or generateName is required",
                            )
                        ],
                    )
                for _ in range(10):
                    meta["name"] = objects.generate_name(meta["generateName"])
                    if self.store.get(rt.key, ns if rt.namespaced else "", meta["name"]) is None:
                        break
            name = meta["name"]
            errors = objects.validate_name(rt, name)
            if errors:
                raise invalid(rt, name, errors)
            self._ensure_namespace(rt, ns)
            if self.store.get(rt.key, ns if rt.namespaced else "", name) is not None:
                raise already_exists(rt, name)
            for f in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
                meta.pop(f, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = objects.now_rfc3339()
            meta["generation"] = 1
            if rt.status_subresource and rt.is_crd:
                body.pop("status", None)
            stored, _ = self._finish(rt, ns, body, None, None, ctx)
        return self.render(rt, stored)

    def update(self, rt: ResourceType, ns: str | None, name: str, body, sub: str | None, ctx: Ctx) -> dict:
        body = self._check_body(rt, copy.deepcopy(body))
        meta = body["metadata"]
        if meta.get("name") and meta["name"] != name:
            raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        meta["name"] = name
        with self.store.cond:
            old = self.store.get(rt.key, ns or "", name)
            if old is None:
                raise not_found(rt, name)
            rv = meta.get("resourceVersion")
            if rv:
                if rv != old["metadata"]["resourceVersion"]:
                    raise stale(rt, name)
            elif rt.is_crd:
                raise invalid(
                    rt,
                    name,
                    [
                        FieldError(
                            "metadata.resourceVersion",
                            "FieldValueInvalid",
                            "Invalid value: 0x0: must be specified for an update",
                        )
                    ],
                )
            stored, _ = self._finish(rt, ns, body, old, sub, ctx)
        return self.render(rt, stored)

    def patch(
        self, rt: ResourceType, ns: str | None, name: str, ptype: str, raw: bytes, sub: str | None, ctx: Ctx
    ) -> tuple[int, dict]:
        try:
            if ptype == "application/apply-patch+yaml":
                doc = yaml.safe_load(raw.decode("utf-8"))
            else:
                doc = json.loads(raw.decode("utf-8") or "null")
        except (ValueError, yaml.YAMLError) as exc:
            raise bad_request(f"error decoding patch: {exc}") from exc
        with self.store.cond:
            old = self.store.get(rt.key, ns or "", name)
            if ptype == "application/apply-patch+yaml":
                return self._apply(rt, ns, name, doc, old, sub, ctx)
            if old is None:
                raise not_found(rt, name)
            current = self.render(rt, old)
            if ptype == "application/merge-patch+json":
                if not isinstance(doc, dict):
                    raise bad_request("a merge patch must be a JSON object")
                patched = patch.merge_patch(current, doc)
            elif ptype == "application/json-patch+json":
                patched = patch.json_patch(current, doc)
            elif ptype == "application/strategic-merge-patch+json":
                if not isinstance(doc, dict):
                    raise bad_request("a strategic merge patch must be a JSON object")
                if rt.is_crd:
                    raise ApiError(
                        415, "UnsupportedMediaType", "strategic merge patch is not supported for custom resources"
                    )
                patched = patch.strategic_merge(current, doc)
            else:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                )
            if not isinstance(patched, dict):
                raise bad_request("the patched object is not an object")
            patched = self._check_body(rt, patched)
            pm = patched["metadata"]
            if pm.get("name", name) != name:
                raise bad_request(
                    f"the name of the object ({pm.get('name')}) does not match the name on the URL ({name})"
                )
            pm["name"] = name
            if pm.get("resourceVersion") and pm["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise stale(rt, name)
            stored, _ = self._finish(rt, ns, patched, old, sub, ctx)
        return 200, self.render(rt, stored)

    def _apply(self, rt, ns, name, doc, old, sub, ctx) -> tuple[int, dict]:
        manager = ctx.params.get("fieldManager")
        if not manager:
            raise ApiError(422, "Invalid", "PATCH request must specify fieldManager")
        if not isinstance(doc, dict):
            raise bad_request("an apply patch must be an object")
        if not doc.get("apiVersion") or not doc.get("kind"):
            raise bad_request("apiVersion and kind must be set in an apply patch")
        doc = self._check_body(rt, doc)
        if doc["metadata"].get("name", name) != name:
            raise bad_request(
                f"the name of the object ({doc['metadata'].get('name')}) does not match the name on the URL ({name})"
            )
        doc["metadata"]["name"] = name
        now = objects.now_rfc3339()
        if old is None:
            if sub:
                raise not_found(rt, name)
            created = patch.server_side_apply(None, doc, manager, None, now)
            created["metadata"]["name"] = name
            return 201, self.create(rt, ns, created, ctx)
        current = self.render(rt, old)
        if (
            doc["metadata"].get("resourceVersion")
            and doc["metadata"]["resourceVersion"] != old["metadata"]["resourceVersion"]
        ):
            raise stale(rt, name)
        merged = patch.server_side_apply(current, doc, manager, sub, now)
        stored, _ = self._finish(rt, ns, merged, old, sub, ctx)
        return 200, self.render(rt, stored)

    # ------------------------------------------------------------ delete
    def _remove(self, rt: ResourceType, old: dict) -> dict:
        meta = old["metadata"]
        if rt.key == NS_KEY:
            for key, name in self.store.keys_in_namespace(meta["name"]):
                self.store.remove(key, meta["name"], name)
        gone_obj = self.store.remove(rt.key, meta.get("namespace", ""), meta["name"])
        if rt.key == CRD_KEY:
            spec = old.get("spec", {})
            key = (spec.get("group", ""), spec.get("names", {}).get("plural", ""))
            for obj in self.store.list(key, None)[0]:
                self.store.remove(key, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            self.registry.remove_crd(meta["name"])
        return gone_obj or old

    def delete(self, rt: ResourceType, ns: str | None, name: str, body, ctx: Ctx) -> dict:
        opts = body if isinstance(body, dict) else {}
        with self.store.cond:
            old = self.store.get(rt.key, ns or "", name)
            if old is None:
                raise not_found(rt, name)
            pre = opts.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != old["metadata"].get("uid"):
                raise ApiError(
                    409,
                    "Conflict",
                    f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {old['metadata'].get('uid')}",
                )
            if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, ResourceVersion in object meta: {old['metadata']['resourceVersion']}",
                )
            if ctx.dry_run:
                return self.render(rt, old)
            if old["metadata"].get("finalizers"):
                if old["metadata"].get("deletionTimestamp"):
                    return self.render(rt, old)
                marked = copy.deepcopy(old)
                marked["metadata"]["deletionTimestamp"] = objects.now_rfc3339()
                marked["metadata"]["deletionGracePeriodSeconds"] = 0
                return self.render(rt, self.store.put(rt.key, marked, old))
            return self.render(rt, self._remove(rt, old))

    def delete_collection(self, rt: ResourceType, ns: str | None, ctx: Ctx) -> dict:
        with self.store.cond:
            listed = self.list(rt, ns, Ctx({k: v for k, v in ctx.params.items() if k not in ("limit", "continue")}))
            for item in listed["items"]:
                m = item["metadata"]
                self.delete(rt, m.get("namespace"), m["name"], None, ctx)
        return listed
