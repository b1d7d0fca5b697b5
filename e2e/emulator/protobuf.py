"""Decoding of the Kubernetes protobuf envelope for the few built-in kinds that kubectl's typed
commands (``kubectl create namespace|secret|configmap|serviceaccount``) send as protobuf.

kubectl 1.32 sends ``application/vnd.kubernetes.protobuf`` bodies for those and does not fall back
to JSON on 415, so the emulator decodes them into the JSON shape. Field numbers come from
``k8s.io/api/core/v1/generated.proto`` and ``k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto``."""

from __future__ import annotations

import base64
import time

from .errors import ApiError

MAGIC = b"k8s\x00"

TIME = {1: ("seconds", "int64"), 2: ("nanos", "int32")}
OWNER_REFERENCE = {
    1: ("kind", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
    5: ("apiVersion", "string"),
    6: ("controller", "bool"),
    7: ("blockOwnerDeletion", "bool"),
}
OBJECT_META = {
    1: ("name", "string"),
    2: ("generateName", "string"),
    3: ("namespace", "string"),
    5: ("uid", "string"),
    6: ("resourceVersion", "string"),
    7: ("generation", "int64"),
    8: ("creationTimestamp", "time"),
    11: ("labels", "map_ss"),
    12: ("annotations", "map_ss"),
    13: ("ownerReferences", [OWNER_REFERENCE]),
    14: ("finalizers", ["string"]),
}
OBJECT_REFERENCE = {
    1: ("kind", "string"),
    2: ("namespace", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
    5: ("apiVersion", "string"),
}
KINDS = {
    ("v1", "Namespace"): {1: ("metadata", OBJECT_META), 2: ("spec", {1: ("finalizers", ["string"])})},
    ("v1", "Secret"): {
        1: ("metadata", OBJECT_META),
        2: ("data", "map_sb"),
        3: ("type", "string"),
        4: ("stringData", "map_ss"),
        5: ("immutable", "bool"),
    },
    ("v1", "ConfigMap"): {
        1: ("metadata", OBJECT_META),
        2: ("data", "map_ss"),
        3: ("binaryData", "map_sb"),
        4: ("immutable", "bool"),
    },
    ("v1", "ServiceAccount"): {
        1: ("metadata", OBJECT_META),
        2: ("secrets", [OBJECT_REFERENCE]),
        3: ("imagePullSecrets", [{1: ("name", "string")}]),
        4: ("automountServiceAccountToken", "bool"),
    },
}
UNKNOWN = {1: ("typeMeta", {1: ("apiVersion", "string"), 2: ("kind", "string")}), 2: ("raw", "bytes")}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes):
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield num, value


def _scalar(kind: str, value):
    if kind == "string":
        return value.decode("utf-8")
    if kind == "bytes":
        return value
    if kind == "bool":
        return bool(value)
    if kind in ("int64", "int32"):
        return value - (1 << 64) if value >= 1 << 63 else value
    if kind == "time":
        t = decode_message(value, TIME)
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t.get("seconds", 0)))
    raise ValueError(f"unknown scalar {kind}")


def decode_message(buf: bytes, schema: dict) -> dict:
    out: dict = {}
    for num, value in _fields(buf):
        if num not in schema:
            continue
        name, kind = schema[num]
        if isinstance(kind, list):
            item = kind[0]
            out.setdefault(name, []).append(
                decode_message(value, item) if isinstance(item, dict) else _scalar(item, value)
            )
        elif isinstance(kind, dict):
            out[name] = decode_message(value, kind)
        elif kind in ("map_ss", "map_sb"):
            entry = {n: v for n, v in _fields(value)}
            key = entry.get(1, b"").decode("utf-8")
            raw = entry.get(2, b"")
            out.setdefault(name, {})[key] = raw.decode("utf-8") if kind == "map_ss" else base64.b64encode(raw).decode()
        else:
            scalar = _scalar(kind, value)
            if scalar not in ("", 0, False, b""):  # proto3: a zero value means unset
                out[name] = scalar
    return out


def decode(body: bytes) -> dict:
    """The JSON form of a protobuf-encoded object; 415 for kinds this module does not know."""
    if not body.startswith(MAGIC):
        raise ApiError(415, "UnsupportedMediaType", "protobuf body without the k8s envelope")
    try:
        unknown = decode_message(body[len(MAGIC) :], UNKNOWN)
        tm = unknown.get("typeMeta", {})
        key = (tm.get("apiVersion", ""), tm.get("kind", ""))
        if key not in KINDS:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the emulator cannot decode protobuf for {key[1]} {key[0]}; send application/json",
            )
        obj = decode_message(unknown.get("raw", b""), KINDS[key])
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"the body of the request could not be decoded: {exc}") from exc
    return {"apiVersion": key[0], "kind": key[1], **obj}
