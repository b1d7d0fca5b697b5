"""Per-kind behaviour of the API server that clients notice: Secret ``stringData``, Service
defaults, Namespace phase, CRD status, the two Event API shapes, and name validation."""

from __future__ import annotations

import base64
import copy
import re
import secrets
import time

from .errors import FieldError

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def now_micro() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e6):06d}Z"


def generate_name(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_GENERATE_CHARS) for _ in range(5))


def validate_name(rt, name: str) -> list[FieldError]:
    if rt.plural == "namespaces":
        if len(name) > 63 or not DNS1123_LABEL.match(name):
            return [
                FieldError(
                    "metadata.name",
                    "FieldValueInvalid",
                    f'Invalid value: "{name}": a lowercase RFC 1123 label must consist of lower case alphanumeric '
                    "characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
                    "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                )
            ]
        return []
    if len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        return [
            FieldError(
                "metadata.name",
                "FieldValueInvalid",
                f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric '
                "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
                "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            )
        ]
    return []


def validate_metadata(meta: dict) -> list[FieldError]:
    errors = []
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is None:
            continue
        if not isinstance(value, dict):
            errors.append(FieldError(f"metadata.{field}", "FieldValueTypeInvalid", "Invalid value: must be a map"))
            continue
        for k, v in value.items():
            if not isinstance(v, str):
                errors.append(
                    FieldError(
                        f"metadata.{field}", "FieldValueTypeInvalid", f"Invalid value: {k}: values must be strings"
                    )
                )
    return errors


# ---------------------------------------------------------------- kind-specific normalisation
def normalize(rt, obj: dict, old: dict | None) -> list[FieldError]:
    """Mutates ``obj`` the way the kind's registry strategy does; returns validation errors."""
    key = rt.key
    if key == ("", "secrets"):
        return _secret(obj)
    if key == ("", "services"):
        _service(obj, old)
    elif key == ("", "namespaces"):
        obj.setdefault("status", {})["phase"] = (old or {}).get("status", {}).get("phase", "Active")
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    elif key == ("apiextensions.k8s.io", "customresourcedefinitions"):
        return _crd(obj, old)
    return []


def _secret(obj: dict) -> list[FieldError]:
    if not obj.get("type"):
        obj["type"] = "Opaque"
    string_data = obj.pop("stringData", None)
    errors = []
    data = obj.get("data") or {}
    for k, v in data.items():
        try:
            base64.b64decode(v, validate=True)
        except (ValueError, TypeError):
            errors.append(FieldError(f"data[{k}]", "FieldValueInvalid", "Invalid value: illegal base64 data"))
    if isinstance(string_data, dict):
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()
    if data or "data" in obj:
        obj["data"] = data
    return errors


_next_cluster_ip = [1]


def _service(obj: dict, old: dict | None) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    old_spec = (old or {}).get("spec", {})
    if "clusterIP" not in spec:
        if old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        else:
            n = _next_cluster_ip[0]
            _next_cluster_ip[0] += 1
            spec["clusterIP"] = f"10.96.{n // 250}.{n % 250 + 1}"
    spec.setdefault("clusterIPs", [spec["clusterIP"]])
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])


def _crd(obj: dict, old: dict | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    errors = []
    if not spec.get("group"):
        errors.append(FieldError("spec.group", "FieldValueRequired", "Required value"))
    if not names.get("plural"):
        errors.append(FieldError("spec.names.plural", "FieldValueRequired", "Required value"))
    if not names.get("kind"):
        errors.append(FieldError("spec.names.kind", "FieldValueRequired", "Required value"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        errors.append(
            FieldError(
                "spec.scope",
                "FieldValueNotSupported",
                'Unsupported value: "": supported values: "Cluster", "Namespaced"',
            )
        )
    versions = spec.get("versions") or []
    if not versions:
        errors.append(
            FieldError(
                "spec.versions",
                "FieldValueInvalid",
                "Invalid value: must have exactly one version marked as storage version",
            )
        )
    expected = f"{names.get('plural')}.{spec.get('group')}"
    if not errors and obj["metadata"]["name"] != expected:
        errors.append(
            FieldError(
                "metadata.name",
                "FieldValueInvalid",
                f'Invalid value: "{obj["metadata"]["name"]}": must be spec.names.plural+"."+spec.group',
            )
        )
    if errors:
        return errors
    names = copy.deepcopy(names)
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    ts = now_rfc3339()
    conditions = ((old or {}).get("status") or {}).get("conditions") or [
        {
            "type": "NamesAccepted",
            "status": "True",
            "reason": "NoConflicts",
            "message": "no conflicts found",
            "lastTransitionTime": ts,
        },
        {
            "type": "Established",
            "status": "True",
            "reason": "InitialNamesAccepted",
            "message": "the initial names have been accepted",
            "lastTransitionTime": ts,
        },
    ]
    obj["status"] = {
        "acceptedNames": names,
        "conditions": conditions,
        "storedVersions": [v["name"] for v in versions if v.get("storage")] or [versions[0].get("name")],
    }
    return []


# ---------------------------------------------------------------- Events: one storage, two shapes
_CORE_TO_NEW = [
    ("message", "note"),
    ("involvedObject", "regarding"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("source", "deprecatedSource"),
    ("reportingComponent", "reportingController"),
]


def event_to_storage(rt, obj: dict) -> dict:
    """Core v1 Events are stored in the events.k8s.io/v1 shape."""
    if rt.group != "" or rt.plural != "events":
        return obj
    out = copy.deepcopy(obj)
    for core, new in _CORE_TO_NEW:
        if core in out:
            out[new] = out.pop(core)
    if not out.get("reportingController") and (out.get("deprecatedSource") or {}).get("component"):
        out["reportingController"] = out["deprecatedSource"]["component"]
    return out


def event_from_storage(rt, obj: dict) -> dict:
    if rt.group != "" or rt.plural != "events":
        return obj
    out = copy.deepcopy(obj)
    for core, new in _CORE_TO_NEW:
        if new in out:
            out[core] = out.pop(new)
    if "source" not in out and out.get("reportingComponent"):
        out["source"] = {"component": out["reportingComponent"]}
        if out.get("reportingInstance"):
            out["source"]["host"] = out["reportingInstance"]
    return out
