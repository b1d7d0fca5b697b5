"""The real kubectl against the emulator: apply, get, wait, patch, delete, selectors, errors."""

from __future__ import annotations

import pytest
import yaml

from .conftest import FIXTURES, WIDGETS, widget


def test_kubectl_applies_a_custom_resource_and_the_server_fills_in_defaults(emulator, ns):
    out = emulator.kubectl("apply", "-f", "-", stdin=widget("w", ns))
    assert "widget.test.tollgate.dev/w created" in out.stdout
    obj = emulator.kubectl_json("get", "widget", "w", "-n", ns)
    assert obj["spec"] == {"color": "blue", "size": "medium", "replicas": 1, "visibility": "public"}
    meta = obj["metadata"]
    assert meta["generation"] == 1 and meta["uid"] and meta["creationTimestamp"]
    assert int(meta["resourceVersion"]) > 0


def test_reapplying_an_unchanged_manifest_reports_unchanged(emulator, ns):
    emulator.kubectl("apply", "-f", "-", stdin=widget("w", ns))
    out = emulator.kubectl("apply", "-f", "-", stdin=widget("w", ns))
    assert "unchanged" in out.stdout


def test_reapplying_a_changed_manifest_updates_the_field_and_the_generation(emulator, ns):
    emulator.kubectl("apply", "-f", "-", stdin=widget("w", ns, tags=["a"]))
    out = emulator.kubectl("apply", "-f", "-", stdin=widget("w", ns, color="red"))
    assert "configured" in out.stdout
    obj = emulator.kubectl_json("get", "widget", "w", "-n", ns)
    assert obj["spec"]["color"] == "red"
    assert "tags" not in obj["spec"], "a field removed from the manifest is removed by the three-way merge"
    assert obj["metadata"]["generation"] == 2


@pytest.mark.parametrize(
    "spec, expected",
    [
        ({"size": "huge"}, 'spec.size: Unsupported value: "huge": supported values: "small", "medium", "large"'),
        ({"color": "Blue"}, "spec.color: Invalid value: \"Blue\": spec.color in body should match '^[a-z]+$'"),
        (
            {"replicas": 0},
            "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1",
        ),
        (
            {"replicas": "two"},
            'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"',
        ),
        ({"color": "a" * 17}, "spec.color: Too long: may not be more than 16 bytes"),
        ({"visibility": "private"}, "spec: Invalid value: a private widget needs secretRef"),
    ],
)
def test_a_custom_resource_violating_the_schema_is_rejected_with_the_reason(emulator, ns, spec, expected):
    res = emulator.kubectl("apply", "-f", "-", stdin=widget("bad", ns, **spec), check=False)
    assert res.returncode != 0
    assert 'The Widget "bad" is invalid' in res.stderr
    assert expected in res.stderr
    assert emulator.kubectl("get", "widget", "bad", "-n", ns, check=False).returncode != 0


def test_a_custom_resource_without_a_required_field_is_rejected(emulator, ns):
    manifest = f"apiVersion: test.tollgate.dev/v1alpha1\nkind: Widget\nmetadata: {{name: bad, namespace: {ns}}}\nspec: {{size: small}}\n"
    res = emulator.kubectl("apply", "-f", "-", stdin=manifest, check=False)
    assert res.returncode != 0 and "spec.color: Required value" in res.stderr


def test_the_cel_rule_passes_when_its_condition_holds(emulator, ns):
    emulator.kubectl("apply", "-f", "-", stdin=widget("private", ns, visibility="private", secretRef={"name": "s"}))
    assert emulator.kubectl_json("get", "widget", "private", "-n", ns)["spec"]["secretRef"] == {"name": "s"}


def test_an_unknown_field_is_refused_by_kubectls_default_strict_validation(emulator, ns):
    res = emulator.kubectl("apply", "-f", "-", stdin=widget("w", ns, bogus=1), check=False)
    assert res.returncode != 0
    assert 'strict decoding error: unknown field "spec.bogus"' in res.stderr


def test_an_unknown_field_is_pruned_when_validation_is_off(emulator, ns):
    emulator.kubectl("apply", "--validate=false", "-f", "-", stdin=widget("w", ns, bogus=1))
    assert "bogus" not in emulator.kubectl_json("get", "widget", "w", "-n", ns)["spec"]


def test_kubectl_wait_sees_a_condition_written_through_the_status_subresource(emulator, ns):
    emulator.kubectl("apply", "-f", "-", stdin=widget("w", ns))
    status = {"status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True", "reason": "Ok"}]}}
    code, _ = emulator.request(
        "PATCH", f"{WIDGETS}/namespaces/{ns}/widgets/w/status", status, "application/merge-patch+json"
    )
    assert code == 200
    res = emulator.kubectl("wait", "--for=condition=Ready", "widget/w", "-n", ns, "--timeout=10s")
    assert "condition met" in res.stdout
    table = emulator.kubectl("get", "widgets", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "SIZE", "READY", "AGE"]
    assert table[1].split()[:3] == ["w", "medium", "True"]


def test_kubectl_patch_merge_and_json_change_the_spec_and_bump_the_generation(emulator, ns):
    emulator.kubectl("apply", "-f", "-", stdin=widget("w", ns))
    emulator.kubectl("patch", "widget", "w", "-n", ns, "--type", "merge", "-p", '{"spec":{"size":"large"}}')
    emulator.kubectl(
        "patch", "widget", "w", "-n", ns, "--type", "json", "-p", '[{"op":"add","path":"/spec/tags","value":["x"]}]'
    )
    obj = emulator.kubectl_json("get", "widget", "w", "-n", ns)
    assert obj["spec"]["size"] == "large" and obj["spec"]["tags"] == ["x"]
    assert obj["metadata"]["generation"] == 3


def test_a_patch_that_breaks_the_schema_is_rejected_and_changes_nothing(emulator, ns):
    emulator.kubectl("apply", "-f", "-", stdin=widget("w", ns))
    res = emulator.kubectl(
        "patch", "widget", "w", "-n", ns, "--type", "merge", "-p", '{"spec":{"size":"huge"}}', check=False
    )
    assert res.returncode != 0 and "Unsupported value" in res.stderr
    assert emulator.kubectl_json("get", "widget", "w", "-n", ns)["spec"]["size"] == "medium"


def test_kubectl_server_side_apply_creates_and_updates(emulator, ns):
    emulator.kubectl("apply", "--server-side", "-f", "-", stdin=widget("w", ns, size="small"))
    emulator.kubectl("apply", "--server-side", "-f", "-", stdin=widget("w", ns, size="large"))
    obj = emulator.kubectl_json("get", "widget", "w", "-n", ns, "--show-managed-fields")
    assert obj["spec"]["size"] == "large"
    assert [m["manager"] for m in obj["metadata"]["managedFields"]] == ["kubectl"]


def test_kubectl_delete_removes_the_object(emulator, ns):
    emulator.kubectl("apply", "-f", "-", stdin=widget("w", ns))
    assert 'widget.test.tollgate.dev "w" deleted' in emulator.kubectl("delete", "widget", "w", "-n", ns).stdout
    res = emulator.kubectl("get", "widget", "w", "-n", ns, check=False)
    assert res.returncode != 0 and 'widgets.test.tollgate.dev "w" not found' in res.stderr


@pytest.mark.parametrize(
    "selector, expected",
    [
        ("tier=front", ["a", "b"]),
        ("tier==back", ["c"]),
        ("tier!=front", ["c", "d"]),
        ("tier in (front,back)", ["a", "b", "c"]),
        ("tier notin (front)", ["c", "d"]),
        ("tier", ["a", "b", "c"]),
        ("!tier", ["d"]),
        ("tier=front,env=prod", ["a"]),
    ],
)
def test_label_selectors_filter_lists(emulator, ns, selector, expected):
    labels = {"a": {"tier": "front", "env": "prod"}, "b": {"tier": "front"}, "c": {"tier": "back"}, "d": {}}
    docs = []
    for name, lbl in labels.items():
        doc = yaml.safe_load(widget(name, ns))
        doc["metadata"]["labels"] = lbl
        docs.append(doc)
    emulator.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    listed = emulator.kubectl_json("get", "widgets", "-n", ns, "-l", selector)
    assert [i["metadata"]["name"] for i in listed["items"]] == expected


def test_field_selectors_filter_by_name_and_namespace(emulator, ns):
    for name in ("a", "b"):
        emulator.kubectl("apply", "-f", "-", stdin=widget(name, ns))
    listed = emulator.kubectl_json(
        "get", "widgets", "-A", "--field-selector", f"metadata.name=b,metadata.namespace={ns}"
    )
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"]] == [(ns, "b")]


def test_built_in_kinds_apply_with_strategic_merge(emulator, ns):
    svc = f"""apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec:
  ports:
  - {{name: http, port: 80}}
  - {{name: admin, port: 8100}}
"""
    emulator.kubectl("apply", "-f", "-", stdin=svc)
    emulator.kubectl("apply", "-f", "-", stdin=svc.replace("port: 8100", "port: 8101"))
    ports = emulator.kubectl_json("get", "service", "web", "-n", ns)["spec"]["ports"]
    assert [(p["name"], p["port"]) for p in ports] == [("http", 80), ("admin", 8101)]


def test_a_secret_with_string_data_is_stored_base64_encoded(emulator, ns):
    secret = (
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: s, namespace: {ns}}}\nstringData: {{password: hunter2}}\n"
    )
    emulator.kubectl("apply", "-f", "-", stdin=secret)
    obj = emulator.kubectl_json("get", "secret", "s", "-n", ns)
    assert obj["data"] == {"password": "aHVudGVyMg=="} and "stringData" not in obj and obj["type"] == "Opaque"


def test_cluster_scoped_custom_resources_are_served(emulator):
    manifest = "apiVersion: test.tollgate.dev/v1\nkind: Gadget\nmetadata: {name: g1}\nspec: {anything: [1, 2]}\n"
    emulator.kubectl("apply", "-f", str(FIXTURES / "widget-crd.yaml"))
    emulator.kubectl("apply", "-f", "-", stdin=manifest)
    obj = emulator.kubectl_json("get", "gadget", "g1")
    assert "namespace" not in obj["metadata"] and obj["spec"] == {"anything": [1, 2]}


def test_a_crd_becomes_established_for_kubectl_wait(emulator):
    res = emulator.kubectl("wait", "--for=condition=Established", "crd/widgets.test.tollgate.dev", "--timeout=5s")
    assert "condition met" in res.stdout


def test_kubectl_create_secret_and_configmap_send_protobuf_that_the_emulator_decodes(emulator, ns):
    emulator.kubectl("create", "secret", "generic", "creds", "-n", ns, "--from-literal=clientSecret=s3cr3t")
    emulator.kubectl("create", "configmap", "cfg", "-n", ns, "--from-literal=mode=fast")
    emulator.kubectl("label", "secret", "creds", "-n", ns, "tollgate.dev/secret=credential")
    secret = emulator.kubectl_json("get", "secret", "creds", "-n", ns)
    assert secret["data"] == {"clientSecret": "czNjcjN0"} and secret["type"] == "Opaque"
    assert secret["metadata"]["labels"] == {"tollgate.dev/secret": "credential"}
    assert emulator.kubectl_json("get", "configmap", "cfg", "-n", ns)["data"] == {"mode": "fast"}
