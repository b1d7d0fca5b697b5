"""Pure parts: CEL, selectors, patches and schema messages."""

from __future__ import annotations

import pytest

from emulator import cel, patch, schema
from emulator.selectors import parse_field_selector, parse_label_selector


@pytest.mark.parametrize(
    "expr, env, expected",
    [
        ("self.clientType == 'public' || has(self.clientSecretRef)", {"clientType": "confidential"}, False),
        (
            "self.clientType == 'public' || has(self.clientSecretRef)",
            {"clientType": "confidential", "clientSecretRef": {}},
            True,
        ),
        (
            "self.clientType != 'public' || !has(self.clientSecretRef)",
            {"clientType": "public", "clientSecretRef": {}},
            False,
        ),
        ("self.type == 'oauth2' ? has(self.oauth2) : !has(self.oauth2)", {"type": "oauth2", "oauth2": {}}, True),
        ("size(self.paths) > 0 && self.paths.all(p, p.startsWith('/'))", {"paths": ["/a", "/b"]}, True),
        ("self.paths.exists(p, p == '/b')", {"paths": ["/a"]}, False),
        ("[has(self.a), has(self.b)].filter(x, x).size() == 1", {"a": 1}, True),
        ("self.missing == 1 || true", {}, True),
        ("self.n + 2 * 3 >= 7 && !(self.n in [5, 6])", {"n": 1}, True),
        ("self.name.matches('^[a-z]+$') && self.name.size() <= 3", {"name": "abc"}, True),
        # As the Gateway API CRDs write them: raw triple-quoted patterns, split(), duration().
        ('self.h.matches(r"""^(\\*\\.)?[a-z0-9]+$""")', {"h": "*.example"}, True),
        ('self.h.matches(r"""^(\\*\\.)?[a-z0-9]+$""")', {"h": "a.b.c"}, False),
        ('self.all(key, key.split("/")[0].size() < 4)', {"abc/x": 1, "d": 2}, True),
        ('self.all(key, key.split("/")[0].size() < 4)', {"abcd/x": 1}, False),
        ("duration(self.b) > duration(self.r)", {"b": "1m", "r": "59s"}, True),
        ("duration(self.b) > duration(self.r)", {"b": "500ms", "r": "1s"}, False),
        ("duration(self.r) != duration('0s')", {"r": "1h2m3s"}, True),
    ],
)
def test_cel_rules_evaluate_like_the_api_server(expr, env, expected):
    assert cel.evaluate(expr, {"self": env}) is expected


def test_cel_reports_unsupported_functions_instead_of_guessing():
    with pytest.raises(cel.CelUnsupported):
        cel.evaluate("self.url.isURL()", {"self": {"url": "x"}})


@pytest.mark.parametrize(
    "selector, labels, expected",
    [
        ("a=1", {"a": "1"}, True),
        ("a=1", {"a": "2"}, False),
        ("a!=1", {}, True),
        ("a in (1, 2),b", {"a": "2", "b": ""}, True),
        ("a notin (1)", {"a": "1"}, False),
        ("!a", {"b": "1"}, True),
        ("", {}, True),
    ],
)
def test_label_selectors_match_like_the_api_server(selector, labels, expected):
    assert parse_label_selector(selector)(labels) is expected


def test_field_selectors_compare_dotted_paths():
    match = parse_field_selector("metadata.name=a,type!=Opaque")
    assert match({"metadata": {"name": "a"}, "type": "kubernetes.io/tls"})
    assert not match({"metadata": {"name": "a"}, "type": "Opaque"})


def test_json_patch_applies_every_operation_kind():
    doc = {"a": [1, 2], "b": {"c": 1}}
    ops = [
        {"op": "add", "path": "/a/-", "value": 3},
        {"op": "replace", "path": "/b/c", "value": 2},
        {"op": "copy", "from": "/b", "path": "/d"},
        {"op": "move", "from": "/d/c", "path": "/e"},
        {"op": "remove", "path": "/a/0"},
        {"op": "test", "path": "/e", "value": 2},
    ]
    assert patch.json_patch(doc, ops) == {"a": [2, 3], "b": {"c": 2}, "d": {}, "e": 2}


def test_a_failed_json_patch_test_is_an_error():
    with pytest.raises(patch.PatchError):
        patch.json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])


def test_strategic_merge_merges_lists_by_key_and_honours_directives():
    current = {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443}], "selector": {"a": "1"}}}
    smp = {
        "spec": {
            "ports": [{"port": 80, "name": "web"}, {"port": 443, "$patch": "delete"}],
            "$setElementOrder/ports": [{"port": 80}],
            "selector": {"$patch": "replace", "b": "2"},
        }
    }
    assert patch.strategic_merge(current, smp) == {
        "spec": {"ports": [{"port": 80, "name": "web"}], "selector": {"b": "2"}}
    }


def test_merge_patch_removes_keys_set_to_null():
    assert patch.merge_patch({"a": 1, "b": {"c": 1, "d": 2}}, {"a": None, "b": {"c": None}}) == {"b": {"d": 2}}


def test_schema_prunes_defaults_and_collects_errors():
    s = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["x"],
                "properties": {"x": {"type": "string"}, "n": {"type": "integer", "default": 3}},
            }
        },
    }
    obj, pruned, errors = schema.process({"apiVersion": "v", "kind": "K", "metadata": {}, "spec": {"y": 1}}, s, None)
    assert pruned == ["spec.y"]
    assert obj["spec"] == {"n": 3}
    assert [str(e) for e in errors] == ["spec.x: Required value"]
