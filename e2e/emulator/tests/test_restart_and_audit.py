"""Restarts keep objects and a monotonic resourceVersion; watches resume; the audit log records
every request with the verb RBAC sees."""

from __future__ import annotations

import json

import pytest
import yaml

from .conftest import FIXTURES, WIDGETS, Emulator, widget


@pytest.fixture
def own_emulator(tmp_path):
    emu = Emulator(tmp_path, "--watch-history", "50", "--kubeconfig-for", f"robot={tmp_path / 'robot.kc'}").start()
    yield emu
    emu.stop()


def test_a_restarted_emulator_keeps_objects_crds_and_a_monotonic_resource_version(own_emulator):
    emu = own_emulator
    emu.kubectl("apply", "-f", str(FIXTURES / "widget-crd.yaml"))
    emu.kubectl("apply", "-f", "-", stdin=widget("w", "default"))
    before = emu.kubectl_json("get", "widget", "w")
    emu.stop()
    emu.start()
    after = emu.kubectl_json("get", "widget", "w")
    assert after["metadata"] == before["metadata"]
    emu.kubectl("patch", "widget", "w", "--type", "merge", "-p", '{"spec":{"size":"large"}}')
    patched = emu.kubectl_json("get", "widget", "w")
    assert int(patched["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])


def test_a_watch_resumes_after_a_restart_on_the_same_port_from_its_last_resource_version(own_emulator):
    emu = own_emulator
    emu.kubectl("apply", "-f", str(FIXTURES / "widget-crd.yaml"))
    base = f"{WIDGETS}/namespaces/default/widgets"
    _, listed = emu.request("GET", base)
    last_rv = listed["metadata"]["resourceVersion"]
    emu.stop()
    emu.start()  # same port: Emulator keeps the one it got
    emu.kubectl("apply", "-f", "-", stdin=widget("after-restart", "default"))
    nxt = emu.watch(f"{base}?watch=true&resourceVersion={last_rv}&timeoutSeconds=5")
    event = nxt()
    nxt.close()
    assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "after-restart"


def test_a_watch_from_a_resource_version_older_than_the_history_gets_410_expired(own_emulator):
    emu = own_emulator
    for i in range(60):
        emu.request("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": f"cm{i}"}})
    nxt = emu.watch("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=2")
    event = nxt()
    nxt.close()
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"


def test_the_audit_log_records_each_request_with_its_rbac_verb(own_emulator):
    emu = own_emulator
    emu.kubectl("apply", "-f", str(FIXTURES / "widget-crd.yaml"))
    ns_url = f"{WIDGETS}/namespaces/default/widgets"
    emu.request(
        "POST",
        ns_url,
        json.loads(
            json.dumps(
                {
                    "apiVersion": "test.tollgate.dev/v1alpha1",
                    "kind": "Widget",
                    "metadata": {"name": "w"},
                    "spec": {"color": "red"},
                }
            )
        ),
    )
    emu.request("GET", f"{ns_url}/w")
    emu.request("GET", ns_url)
    emu.watch(f"{ns_url}?watch=true&resourceVersion=0&timeoutSeconds=1").close()
    emu.request("PATCH", f"{ns_url}/w/status", {"status": {}}, "application/merge-patch+json")
    emu.request("DELETE", f"{ns_url}/w")
    emu.request("GET", "/version")
    lines = [json.loads(line) for line in emu.audit.read_text().splitlines()]
    ours = [
        (e["verb"], e.get("resource"), e.get("subresource"), e.get("name"), e.get("code"))
        for e in lines
        if e["userAgent"] == "emulator-tests"
    ]
    assert ours[-7:] == [
        ("create", "widgets", "", "", 201),
        ("get", "widgets", "", "w", 200),
        ("list", "widgets", "", "", 200),
        ("watch", "widgets", "", "", 200),
        ("patch", "widgets", "status", "w", 200),
        ("delete", "widgets", "", "w", 200),
        ("get", None, None, None, 200),
    ]
    create = next(e for e in lines if e["verb"] == "create" and e.get("resource") == "widgets")
    assert create["apiGroup"] == "test.tollgate.dev" and create["namespace"] == "default"
    assert any(e["userAgent"].startswith("kubectl") for e in lines)


def test_the_audit_log_names_the_bearer_token_of_each_request_as_its_user(own_emulator):
    emu = own_emulator
    robot = yaml.safe_load((emu.workdir / "robot.kc").read_text())
    token = robot["users"][0]["user"]["token"]
    assert token == "robot"
    emu.request("GET", "/api/v1/namespaces/default/configmaps", headers={"Authorization": f"Bearer {token}"})
    emu.request("GET", "/api/v1/namespaces/default/secrets")
    lines = [json.loads(line) for line in emu.audit.read_text().splitlines()]
    users = {e["resource"]: e["user"] for e in lines if e.get("resource") in ("configmaps", "secrets")}
    assert users == {"configmaps": "robot", "secrets": "system:anonymous"}
