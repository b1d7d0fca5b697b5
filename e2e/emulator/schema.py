"""Custom resources against their CRD's structural ``openAPIV3Schema``: unknown fields pruned,
defaults applied, values validated (types, required, enums, bounds, lengths, patterns, item
counts) and CEL ``x-kubernetes-validations`` evaluated, with the API server's error wording."""

from __future__ import annotations

import copy
import json
import logging
import re

from . import cel
from .errors import FieldError

log = logging.getLogger("emulator.schema")

_TYPE_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}


def _type_name(value) -> str:
    if value is None:
        return "null"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _child(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _go_value(value) -> str:
    """A value as ``field.Invalid`` prints it."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return f'"{_type_name(value)}"'
    return str(value)


# ---------------------------------------------------------------- pruning and defaulting
def prune(value, schema: dict, path: str, pruned: list[str], root: bool = False):
    """Drop fields the schema does not know; ``pruned`` collects their paths."""
    if not isinstance(schema, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        if isinstance(value, dict) and isinstance(schema, dict):
            for key, sub in (schema.get("properties") or {}).items():
                if key in value:
                    value[key] = prune(value[key], sub, _child(path, key), pruned)
        return value
    if isinstance(value, dict):
        props = schema.get("properties")
        additional = schema.get("additionalProperties")
        keep_meta = root or schema.get("x-kubernetes-embedded-resource")
        for key in list(value.keys()):
            if keep_meta and key in ("apiVersion", "kind", "metadata"):
                continue
            if props is not None and key in props:
                value[key] = prune(value[key], props[key], _child(path, key), pruned)
            elif isinstance(additional, dict):
                value[key] = prune(value[key], additional, _child(path, key), pruned)
            elif additional is True:
                continue
            else:
                pruned.append(_child(path, key))
                del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(v, schema["items"], _child(path, i), pruned) for i, v in enumerate(value)]
    return value


def apply_defaults(value, schema: dict):
    if not isinstance(schema, dict):
        return value
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in value and isinstance(sub, dict) and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = apply_defaults(value[key], sub)
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            props = schema.get("properties") or {}
            for key in value:
                if key not in props:
                    value[key] = apply_defaults(value[key], additional)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(v, schema["items"]) for v in value]
    return value


# ---------------------------------------------------------------- validation
def _check_type(value, schema: dict, path: str, errors: list[FieldError]) -> bool:
    expected = schema.get("type")
    if value is None:
        if schema.get("nullable"):
            return False
        if expected:
            errors.append(
                FieldError(
                    path,
                    "FieldValueTypeInvalid",
                    f'Invalid value: "null": {path} in body must be of type {expected}: "null"',
                )
            )
        return False
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            errors.append(
                FieldError(
                    path,
                    "FieldValueTypeInvalid",
                    f'Invalid value: "{_type_name(value)}": {path} in body must be of type integer-or-string',
                )
            )
            return False
        return True
    if not expected:
        return True
    actual = _type_name(value)
    ok = actual == expected or (expected == "number" and actual == "integer")
    if isinstance(value, float) and expected == "integer" and value.is_integer():
        ok = True
    if not ok:
        errors.append(
            FieldError(
                path,
                "FieldValueTypeInvalid",
                f'Invalid value: "{actual}": {path} in body must be of type {expected}: "{actual}"',
            )
        )
    return ok


def _check_value(value, schema: dict, path: str, errors: list[FieldError]) -> None:
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(json.dumps(v) for v in schema["enum"])
        errors.append(
            FieldError(
                path, "FieldValueNotSupported", f"Unsupported value: {json.dumps(value)}: supported values: {supported}"
            )
        )
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(
                FieldError(path, "FieldValueTooLong", f"Too long: may not be more than {schema['maxLength']} bytes")
            )
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(
                FieldError(
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {_go_value(value)}: {path} in body should be at least {schema['minLength']} chars long",
                )
            )
        pattern = schema.get("pattern")
        if pattern:
            try:
                matched = re.search(pattern, value) is not None
            except re.error:
                matched = True
            if not matched:
                errors.append(
                    FieldError(
                        path,
                        "FieldValueInvalid",
                        f"Invalid value: {_go_value(value)}: {path} in body should match '{pattern}'",
                    )
                )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for key, exclusive, word in (
            ("minimum", "exclusiveMinimum", "greater than"),
            ("maximum", "exclusiveMaximum", "less than"),
        ):
            if key not in schema:
                continue
            bound = schema[key]
            excl = bool(schema.get(exclusive))
            bad = (
                (value <= bound if excl else value < bound)
                if key == "minimum"
                else (value >= bound if excl else value > bound)
            )
            if bad:
                rel = word if excl else f"{word} or equal to"
                errors.append(
                    FieldError(
                        path, "FieldValueInvalid", f"Invalid value: {value}: {path} in body should be {rel} {bound}"
                    )
                )
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(
                FieldError(
                    path, "FieldValueTooMany", f"Too many: {len(value)}: must have at most {schema['maxItems']} items"
                )
            )
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(
                FieldError(
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {len(value)}: {path} in body should have at least {schema['minItems']} items",
                )
            )
        list_type = schema.get("x-kubernetes-list-type")
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen = []
        for i, item in enumerate(value):
            ident = tuple(item.get(k) for k in keys) if list_type == "map" and isinstance(item, dict) else item
            if list_type in ("set", "map") and ident in seen:
                errors.append(
                    FieldError(_child(path, i), "FieldValueDuplicate", f"Duplicate value: {json.dumps(item)}")
                )
            seen.append(ident)
    if isinstance(value, dict):
        for key in schema.get("required") or []:
            if key not in value:
                errors.append(FieldError(_child(path, key), "FieldValueRequired", "Required value"))
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            errors.append(
                FieldError(
                    path,
                    "FieldValueTooMany",
                    f"Too many: {len(value)}: must have at most {schema['maxProperties']} items",
                )
            )


def _check_combinators(value, schema: dict, path: str, errors: list[FieldError]) -> None:
    for sub in schema.get("allOf") or []:
        validate(value, sub, path, errors, None, check_cel=False)
    if schema.get("anyOf"):
        if not any(not _errors_of(value, s, path) for s in schema["anyOf"]):
            errors.append(
                FieldError(
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {_go_value(value)}: {path} in body must match at least one schema in anyOf",
                )
            )
    if schema.get("oneOf"):
        matches = sum(1 for s in schema["oneOf"] if not _errors_of(value, s, path))
        if matches != 1:
            errors.append(
                FieldError(
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {_go_value(value)}: {path} in body must match exactly one schema in oneOf",
                )
            )
    if isinstance(schema.get("not"), dict) and not _errors_of(value, schema["not"], path):
        errors.append(
            FieldError(
                path,
                "FieldValueInvalid",
                f"Invalid value: {_go_value(value)}: {path} in body should not match the schema",
            )
        )


def _errors_of(value, schema, path) -> list[FieldError]:
    errs: list[FieldError] = []
    validate(value, schema, path, errs, None, check_cel=False)
    return errs


def validate(value, schema: dict, path: str, errors: list[FieldError], old, check_cel: bool = True) -> None:
    """Appends to ``errors`` every way ``value`` breaks ``schema`` (``old``: the stored value)."""
    if not isinstance(schema, dict):
        return
    if not _check_type(value, schema, path, errors):
        return
    _check_value(value, schema, path, errors)
    _check_combinators(value, schema, path, errors)
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            if path == "" and key in ("apiVersion", "kind", "metadata"):
                continue
            sub = props.get(key) if key in props else (additional if isinstance(additional, dict) else None)
            if sub is not None:
                old_item = old.get(key) if isinstance(old, dict) else None
                validate(item, sub, _child(path, key), errors, old_item, check_cel)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            validate(item, schema["items"], _child(path, i), errors, None, check_cel)
    if check_cel:
        _check_rules(value, schema, path, errors, old)


def _check_rules(value, schema: dict, path: str, errors: list[FieldError], old) -> None:
    for rule in schema.get("x-kubernetes-validations") or []:
        expr = rule.get("rule", "")
        uses_old = "oldSelf" in expr
        if uses_old and old is None:
            continue  # transition rules apply to updates only
        env = {"self": value}
        if uses_old:
            env["oldSelf"] = old
        try:
            ok = cel.evaluate(expr, env)
        except cel.CelUnsupported as exc:
            log.warning("CEL rule %r not evaluated: %s", expr, exc)
            continue
        except cel.CelError as exc:
            ok = False
            log.info("CEL rule %r failed to evaluate: %s", expr, exc)
        if ok is True:
            continue
        message = rule.get("message") or f"failed rule: {expr}"
        if rule.get("messageExpression"):
            try:
                message = str(cel.evaluate(rule["messageExpression"], env))
            except cel.CelError:
                pass
        field = path
        if rule.get("fieldPath"):
            field = (path + rule["fieldPath"]) if path else rule["fieldPath"].lstrip(".")
        errors.append(
            FieldError(
                # kube-apiserver 1.37 leaves the value's type out of a CEL rule's message
                field, rule.get("reason", "FieldValueInvalid"), f"Invalid value: {message}"
            )
        )


def process(obj: dict, schema: dict | None, old: dict | None) -> tuple[dict, list[str], list[FieldError]]:
    """Prune, default and validate a custom resource: (object, pruned paths, errors)."""
    if not schema:
        return obj, [], []
    pruned: list[str] = []
    obj = prune(obj, schema, "", pruned, root=True)
    obj = apply_defaults(obj, schema)
    errors: list[FieldError] = []
    validate(obj, schema, "", errors, old)
    return obj, pruned, errors
