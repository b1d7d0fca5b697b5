"""The kinds the emulator serves: built-in ones and those that CustomResourceDefinitions add."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUB_VERBS = ["get", "patch", "update"]


@dataclass
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    status_subresource: bool = False
    schema: dict | None = None
    printer_columns: list[dict] = field(default_factory=list)
    served: bool = True
    storage_key: tuple[str, str] | None = None  # shared storage (core and events.k8s.io Events)
    is_crd: bool = False

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """Objects are stored per group and resource, whatever the version asked."""
        return self.storage_key or (self.group, self.plural)

    def discovery_entries(self) -> list[dict]:
        main = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": ALL_VERBS,
        }
        if self.short_names:
            main["shortNames"] = self.short_names
        if self.categories:
            main["categories"] = self.categories
        main["storageVersionHash"] = hashlib.sha256(f"{self.group}/{self.version}/{self.kind}".encode()).hexdigest()[
            :12
        ]
        entries = [main]
        if self.status_subresource:
            entries.append(
                {
                    "name": f"{self.plural}/status",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": SUB_VERBS,
                }
            )
        return entries


def _b(group, version, kind, plural, namespaced, short=(), status=False, cats=(), key=None):
    return ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        short_names=list(short),
        status_subresource=status,
        categories=list(cats),
        storage_key=key,
    )


BUILTINS = [
    _b("", "v1", "Namespace", "namespaces", False, ["ns"], status=True),
    _b("", "v1", "Secret", "secrets", True),
    _b("", "v1", "ConfigMap", "configmaps", True, ["cm"]),
    _b("", "v1", "Service", "services", True, ["svc"], status=True, cats=["all"]),
    _b("", "v1", "Endpoints", "endpoints", True, ["ep"]),
    _b("", "v1", "Pod", "pods", True, ["po"], status=True, cats=["all"]),
    _b("", "v1", "ServiceAccount", "serviceaccounts", True, ["sa"]),
    _b("", "v1", "Event", "events", True, ["ev"], key=("events.k8s.io", "events")),
    _b("events.k8s.io", "v1", "Event", "events", True, ["ev"]),
    _b("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    _b("coordination.k8s.io", "v1", "Lease", "leases", True),
    _b("apps", "v1", "Deployment", "deployments", True, ["deploy"], status=True, cats=["all"]),
    _b("apps", "v1", "StatefulSet", "statefulsets", True, ["sts"], status=True, cats=["all"]),
    _b("apps", "v1", "DaemonSet", "daemonsets", True, ["ds"], status=True, cats=["all"]),
    _b("apps", "v1", "ReplicaSet", "replicasets", True, ["rs"], status=True, cats=["all"]),
    _b("batch", "v1", "Job", "jobs", True, status=True, cats=["all"]),
    _b("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ["pdb"], status=True),
    _b("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, ["netpol"]),
    _b("networking.k8s.io", "v1", "Ingress", "ingresses", True, ["ing"], status=True),
    _b("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    _b("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, ["hpa"], status=True),
    _b("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    _b("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    _b("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _b("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _b(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        ["crd", "crds"],
        status=True,
        cats=["api-extensions"],
    ),
]


def crd_resource_types(crd: dict) -> list[ResourceType]:
    """The served versions of a CRD as resource types."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    out = []
    for v in spec.get("versions", []):
        if not v.get("served", True):
            continue
        sub = v.get("subresources") or {}
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        out.append(
            ResourceType(
                group=spec.get("group", ""),
                version=v.get("name", ""),
                kind=names.get("kind", ""),
                plural=names.get("plural", ""),
                singular=names.get("singular") or names.get("kind", "").lower(),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=list(names.get("shortNames", [])),
                categories=list(names.get("categories", [])),
                status_subresource="status" in sub,
                schema=schema,
                printer_columns=list(v.get("additionalPrinterColumns", [])),
                is_crd=True,
            )
        )
    return out


class Registry:
    """Looks resource types up by group/version/plural; CRDs add and remove types at run time."""

    def __init__(self):
        self._lock = threading.Lock()
        self._builtin = list(BUILTINS)
        self._crds: dict[str, list[ResourceType]] = {}
        self.generation = 0  # bumped when CRDs change: discovery and OpenAPI hashes follow

    def set_crd(self, crd: dict) -> None:
        with self._lock:
            self._crds[crd["metadata"]["name"]] = crd_resource_types(crd)
            self.generation += 1

    def remove_crd(self, name: str) -> None:
        with self._lock:
            self._crds.pop(name, None)
            self.generation += 1

    def all(self) -> list[ResourceType]:
        with self._lock:
            out = list(self._builtin)
            for types in self._crds.values():
                out.extend(types)
            return out

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        for rt in self.all():
            if rt.group == group and rt.version == version and rt.plural == plural:
                return rt
        return None

    def by_key(self, key: tuple[str, str]) -> list[ResourceType]:
        return [rt for rt in self.all() if rt.key == key]

    def group_versions(self) -> dict[str, list[str]]:
        """Group → versions, in first-seen order (the first is the preferred one)."""
        groups: dict[str, list[str]] = {}
        for rt in self.all():
            versions = groups.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return groups

    def resources_in(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self.all() if rt.group == group and rt.version == version]

    def hash(self) -> str:
        material = json.dumps([(rt.group, rt.version, rt.plural, rt.namespaced) for rt in self.all()], sort_keys=True)
        return hashlib.sha256(material.encode()).hexdigest()[:16]
