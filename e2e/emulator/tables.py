"""``meta.k8s.io/v1`` Table answers for ``kubectl get``: Name, a CRD's additionalPrinterColumns
(simple JSONPath: fields, indexes and ``[?(@.key=="value")]`` filters) and Age."""

from __future__ import annotations

import calendar
import json
import re
import time

_STEP = re.compile(r'\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*["\']([^"\']*)["\']\)\]')


def jsonpath(obj, path: str):
    """The first value at ``path`` (``.status.conditions[?(@.type=="Ready")].status``), or None."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    path = path.lstrip("$")
    if not path.startswith(".") and not path.startswith("["):
        path = "." + path
    cur = obj
    pos = 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if not m:
            return None
        pos = m.end()
        field, index, fkey, fval = m.groups()
        if field is not None:
            cur = cur.get(field) if isinstance(cur, dict) else None
        elif index is not None:
            cur = cur[int(index)] if isinstance(cur, list) and int(index) < len(cur) else None
        else:
            if not isinstance(cur, list):
                return None
            cur = next((i for i in cur if isinstance(i, dict) and str(jsonpath(i, "." + fkey)) == fval), None)
        if cur is None:
            return None
    return cur


def human_duration(seconds: float) -> str:
    """``duration.HumanDuration`` of apimachinery, as kubectl shows ages."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def _age(value) -> str | None:
    try:
        ts = calendar.timegm(time.strptime(str(value)[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    return human_duration(time.time() - ts)


def _columns(rt) -> list[dict]:
    cols = [{"name": "Name", "type": "string", "format": "name", "description": "Name of the object", "priority": 0}]
    if rt.printer_columns:
        for c in rt.printer_columns:
            cols.append(
                {
                    "name": c.get("name", ""),
                    "type": c.get("type", "string"),
                    "format": c.get("format", ""),
                    "description": c.get("description", ""),
                    "priority": c.get("priority", 0),
                    "_path": c.get("jsonPath", ""),
                }
            )
    else:
        cols.append(
            {
                "name": "Age",
                "type": "date",
                "format": "",
                "description": "Age",
                "priority": 0,
                "_path": ".metadata.creationTimestamp",
            }
        )
    return cols


def table(
    rt, items: list[dict], resource_version: str, continue_token: str | None = None, include_columns: bool = True
) -> dict:
    cols = _columns(rt)
    rows = []
    for obj in items:
        cells = [obj.get("metadata", {}).get("name", "")]
        for c in cols[1:]:
            value = jsonpath(obj, c["_path"])
            if value is not None and c["type"] == "date":
                value = _age(value)
            elif isinstance(value, (list, dict)):
                value = json.dumps(value, separators=(",", ":"))
            if value is None:
                value = "<none>" if c["type"] == "string" else None
            cells.append(value)
        rows.append(
            {
                "cells": cells,
                "object": {
                    "apiVersion": "meta.k8s.io/v1",
                    "kind": "PartialObjectMetadata",
                    "metadata": obj.get("metadata", {}),
                },
            }
        )
    meta = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    out = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "rows": rows}
    out["columnDefinitions"] = [{k: v for k, v in c.items() if k != "_path"} for c in cols] if include_columns else []
    return out
