"""Patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch
(approximated: merge patch plus list merging by key for the lists that matter and the ``$patch``,
``$retainKeys``, ``$setElementOrder``, ``$deleteFromPrimitiveList`` directives), and server-side
apply (approximated: the applied fields are merged in, lists are atomic, and fields the same manager
applied before but no longer applies are removed; conflicts between managers are not detected)."""

from __future__ import annotations

import copy
import json

from .errors import ApiError


class PatchError(ApiError):
    def __init__(self, message: str):
        super().__init__(422, "Invalid", message)


# ---------------------------------------------------------------- JSON merge patch (RFC 7386)
def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ---------------------------------------------------------------- JSON patch (RFC 6902)
def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list, token: str, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"invalid array index {token!r}")
    idx = int(token)
    if idx > len(container) or (idx == len(container) and not allow_end):
        raise PatchError(f"array index {idx} out of bounds")
    return idx


def _parent(doc, tokens: list[str]):
    cur = doc
    for tok in tokens[:-1]:
        if isinstance(cur, dict):
            if tok not in cur:
                raise PatchError(f"doc is missing path: /{'/'.join(tokens)}")
            cur = cur[tok]
        elif isinstance(cur, list):
            cur = cur[_index(cur, tok, False)]
        else:
            raise PatchError(f"doc is missing path: /{'/'.join(tokens)}")
    return cur


def _get(doc, tokens):
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"doc is missing path: /{'/'.join(tokens)}")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, False)]
    raise PatchError(f"doc is missing path: /{'/'.join(tokens)}")


def _add(doc, tokens, value):
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, True), value)
    else:
        raise PatchError(f"doc is missing path: /{'/'.join(tokens)}")
    return doc


def _remove(doc, tokens):
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"unable to remove nonexistent key: {last}: missing value")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, False))
    raise PatchError(f"doc is missing path: /{'/'.join(tokens)}")


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON patch operation: {json.dumps(op)}")
        kind, tokens = op["op"], _pointer(op["path"])
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"operation {kind} needs a value")
        if kind == "add":
            doc = _add(doc, tokens, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, tokens)
        elif kind == "replace":
            _get(doc, tokens)
            if tokens:
                _remove(doc, tokens)
            doc = _add(doc, tokens, copy.deepcopy(op["value"]))
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = copy.deepcopy(_get(doc, source))
            if kind == "move":
                _remove(doc, source)
            doc = _add(doc, tokens, value)
        elif kind == "test":
            if _get(doc, tokens) != op["value"]:
                raise PatchError(f"testing value {op['path']} failed: test failed")
        else:
            raise PatchError(f"Unexpected kind: {kind}")
    return doc


# ---------------------------------------------------------------- strategic merge patch
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "volumeMounts": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
}
PRIMITIVE_MERGE = {"finalizers"}


def _merge_key(field: str, items: list) -> str | None:
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return MERGE_KEYS.get(field)


def strategic_merge(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            merged = strategic_merge(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(field: str, current, patch: list) -> list:
    current = current if isinstance(current, list) else []
    if field in PRIMITIVE_MERGE:
        out = list(current)
        out.extend(v for v in patch if v not in out)
        return out
    key = _merge_key(field, patch + current)
    if key is None or not all(isinstance(i, dict) for i in patch):
        return [strategic_merge(None, i) if isinstance(i, dict) else copy.deepcopy(i) for i in patch]
    out = copy.deepcopy(current)
    for item in patch:
        if item.get("$patch") == "replace":
            return [i for i in (strategic_merge(None, p) for p in patch) if i is not None]
        match = next(
            (n for n, c in enumerate(out) if isinstance(c, dict) and c.get(key) == item.get(key)),
            None,
        )
        if item.get("$patch") == "delete":
            if match is not None:
                out.pop(match)
        elif match is None:
            out.append(strategic_merge(None, item))
        else:
            out[match] = strategic_merge(out[match], item)
    return out


# ---------------------------------------------------------------- server-side apply
IDENTITY = {("apiVersion",), ("kind",), ("metadata",), ("metadata", "name"), ("metadata", "namespace")}
METADATA_MANAGED = {"labels", "annotations", "finalizers", "ownerReferences"}


def field_paths(obj: dict, prefix: tuple = ()) -> set[tuple]:
    """Every path the applied configuration sets; lists are atomic leaves."""
    paths = set()
    for key, value in obj.items():
        if prefix == () and key == "metadata":
            if isinstance(value, dict):
                for mk in METADATA_MANAGED & value.keys():
                    paths.add(("metadata", mk))
                    if isinstance(value[mk], dict):
                        paths |= field_paths(value[mk], ("metadata", mk))
            continue
        path = prefix + (key,)
        if path in IDENTITY:
            continue
        paths.add(path)
        if isinstance(value, dict):
            paths |= field_paths(value, path)
    return paths


def paths_to_fields_v1(paths: set[tuple]) -> dict:
    root: dict = {}
    for path in sorted(paths):
        node = root
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return root


def fields_v1_to_paths(fields: dict, prefix: tuple = ()) -> set[tuple]:
    paths = set()
    for key, sub in (fields or {}).items():
        if not key.startswith("f:"):
            continue
        path = prefix + (key[2:],)
        paths.add(path)
        if isinstance(sub, dict):
            paths |= fields_v1_to_paths(sub, path)
    return paths


def _remove_path(obj: dict, path: tuple, only_if_empty: bool) -> None:
    cur = obj
    for part in path[:-1]:
        cur = cur.get(part) if isinstance(cur, dict) else None
        if not isinstance(cur, dict):
            return
    if path[-1] not in cur:
        return
    value = cur[path[-1]]
    if only_if_empty and isinstance(value, dict) and value:
        return
    del cur[path[-1]]


def _apply_merge(target, applied):
    """Maps merge recursively; everything else (lists included) is replaced."""
    if not isinstance(applied, dict) or not isinstance(target, dict):
        return copy.deepcopy(applied)
    out = copy.deepcopy(target)
    for key, value in applied.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _apply_merge(out.get(key), value)
    return out


def server_side_apply(current: dict | None, applied: dict, manager: str, subresource: str | None, now: str) -> dict:
    """Merge ``applied`` into ``current`` and record ``manager``'s fields in managedFields."""
    base = copy.deepcopy(current) if current is not None else {}
    meta = base.setdefault("metadata", {})
    entries = [e for e in meta.get("managedFields") or [] if isinstance(e, dict)]
    previous = next(
        (
            e
            for e in entries
            if e.get("manager") == manager and e.get("operation") == "Apply" and e.get("subresource") == subresource
        ),
        None,
    )
    new_paths = field_paths(applied)
    if previous is not None:
        gone_paths = fields_v1_to_paths(previous.get("fieldsV1", {})) - new_paths
        others: set[tuple] = set()
        for e in entries:
            if e is not previous:
                others |= fields_v1_to_paths(e.get("fieldsV1", {}))
        for path in sorted(gone_paths, key=len, reverse=True):
            if path in others:
                continue
            is_parent = any(p[: len(path)] == path and len(p) > len(path) for p in others | new_paths)
            _remove_path(base, path, only_if_empty=is_parent)
    merged_meta_src = applied.get("metadata", {}) if isinstance(applied.get("metadata"), dict) else {}
    applied_body = {k: v for k, v in applied.items() if k not in ("metadata",)}
    result = _apply_merge(base, applied_body)
    meta = result.setdefault("metadata", {})
    for mk in METADATA_MANAGED & merged_meta_src.keys():
        meta[mk] = _apply_merge(meta.get(mk), merged_meta_src[mk])
    entry = {
        "manager": manager,
        "operation": "Apply",
        "apiVersion": applied.get("apiVersion", ""),
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": paths_to_fields_v1(new_paths),
    }
    if subresource:
        entry["subresource"] = subresource
    kept = [e for e in entries if e is not previous]
    if previous is not None and previous.get("fieldsV1") == entry["fieldsV1"]:
        entry["time"] = previous.get("time", now)
    meta["managedFields"] = kept + [entry]
    return result
