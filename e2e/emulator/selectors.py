"""Label selectors (``=``, ``==``, ``!=``, ``in``, ``notin``, exists, ``!key``) and field selectors."""

from __future__ import annotations

import re

from .errors import bad_request

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9._/-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(text: str | None):
    """Returns a predicate over a labels dict; raises 400 BadRequest on syntax errors."""
    if not text:
        return lambda labels: True
    reqs = []
    for term in _split_top(text):
        for op in ("!=", "==", "="):
            if op in term and "(" not in term:
                key, _, value = term.partition(op)
                key, value = key.strip(), value.strip()
                if not key:
                    raise bad_request(f"unable to parse requirement: invalid label selector {text!r}")
                reqs.append(("ne" if op == "!=" else "eq", key, {value}))
                break
        else:
            m = _SET_RE.match(term)
            if not m:
                raise bad_request(f"unable to parse requirement: invalid label selector {text!r}")
            neg, key, op, values = m.groups()
            if op:
                if neg:
                    raise bad_request(f"unable to parse requirement: invalid label selector {text!r}")
                vals = {v.strip() for v in values.split(",") if v.strip()}
                reqs.append((op, key, vals))
            else:
                reqs.append(("absent" if neg else "exists", key, set()))

    def matches(labels: dict) -> bool:
        labels = labels or {}
        for op, key, vals in reqs:
            present = key in labels
            value = labels.get(key)
            if op == "eq" and not (present and value in vals):
                return False
            if op in ("ne", "notin") and present and value in vals:
                return False
            if op == "in" and not (present and value in vals):
                return False
            if op == "exists" and not present:
                return False
            if op == "absent" and present:
                return False
        return True

    return matches


def _field_value(obj: dict, path: str) -> str:
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text: str | None):
    """``metadata.name=x,metadata.namespace!=y`` and any other dotted path, compared as strings."""
    if not text:
        return lambda obj: True
    reqs = []
    for term in _split_top(text):
        for op in ("!=", "==", "="):
            if op in term:
                key, _, value = term.partition(op)
                reqs.append((op == "!=", key.strip(), value.strip()))
                break
        else:
            raise bad_request(f"invalid selector: {text!r}; can't understand {term!r}")

    def matches(obj: dict) -> bool:
        for negate, key, value in reqs:
            if (_field_value(obj, key) == value) == negate:
                return False
        return True

    return matches
