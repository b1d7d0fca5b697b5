"""The API over raw HTTP, as kube-rs uses it: watch, optimistic concurrency, /status, apply, paging."""

from __future__ import annotations

import json

import pytest

from .conftest import WIDGETS, differs_on_real


def _widget(name, ns, **spec):
    return {
        "apiVersion": "test.tollgate.dev/v1alpha1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"color": "blue", **spec},
    }


def _create(emulator, ns, name, **spec):
    code, obj = emulator.request("POST", f"{WIDGETS}/namespaces/{ns}/widgets", _widget(name, ns, **spec))
    assert code == 201, obj
    return obj


@differs_on_real("a CRD just Established may still answer 404 for a moment", strict=False)
def test_watch_sees_added_modified_deleted_with_increasing_resource_versions(emulator, ns):
    base = f"{WIDGETS}/namespaces/{ns}/widgets"
    _, listed = emulator.request("GET", base)
    nxt = emulator.watch(f"{base}?watch=true&resourceVersion={listed['metadata']['resourceVersion']}&timeoutSeconds=5")
    _create(emulator, ns, "w")
    emulator.request("PATCH", f"{base}/w", {"spec": {"size": "small"}}, "application/merge-patch+json")
    emulator.request("DELETE", f"{base}/w")
    events = [nxt() for _ in range(3)]
    nxt.close()
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3
    assert events[1]["object"]["spec"]["size"] == "small"


def test_watch_without_resource_version_starts_with_the_current_objects(emulator, ns):
    _create(emulator, ns, "a")
    nxt = emulator.watch(f"{WIDGETS}/namespaces/{ns}/widgets?watch=true&timeoutSeconds=5")
    first = nxt()
    nxt.close()
    assert first["type"] == "ADDED" and first["object"]["metadata"]["name"] == "a"


def test_a_watch_with_a_label_selector_sees_objects_enter_and_leave_the_selection(emulator, ns):
    base = f"{WIDGETS}/namespaces/{ns}/widgets"
    _create(emulator, ns, "w")
    _, listed = emulator.request("GET", base)
    nxt = emulator.watch(
        f"{base}?watch=true&labelSelector=tier%3Dfront&resourceVersion={listed['metadata']['resourceVersion']}&timeoutSeconds=5"
    )
    for labels in ({"tier": "front"}, {"tier": "back"}):
        emulator.request("PATCH", f"{base}/w", {"metadata": {"labels": labels}}, "application/merge-patch+json")
    events = [nxt()["type"] for _ in range(2)]
    nxt.close()
    assert events == ["ADDED", "DELETED"]


def test_send_initial_events_ends_with_the_initial_events_end_bookmark(emulator, ns):
    _create(emulator, ns, "a")
    nxt = emulator.watch(
        f"{WIDGETS}/namespaces/{ns}/widgets?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
        "&resourceVersionMatch=NotOlderThan&timeoutSeconds=5"
    )
    added, bookmark = nxt(), nxt()
    nxt.close()
    assert added["type"] == "ADDED"
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


@differs_on_real("resourceVersion=1 is too old (410) once etcd compacted; the emulator keeps its history")
def test_a_watch_ends_cleanly_at_its_timeout(emulator, ns):
    nxt = emulator.watch(
        f"{WIDGETS}/namespaces/{ns}/widgets?watch=true&resourceVersion=1&timeoutSeconds=1&labelSelector=none%3Dnone"
    )
    assert nxt() is None


def test_a_stale_put_gets_409_conflict(emulator, ns):
    obj = _create(emulator, ns, "w")
    url = f"{WIDGETS}/namespaces/{ns}/widgets/w"
    fresh = dict(obj, spec=dict(obj["spec"], size="large"))
    code, updated = emulator.request("PUT", url, fresh)
    assert code == 200 and updated["metadata"]["generation"] == 2
    code, err = emulator.request("PUT", url, dict(obj, spec=dict(obj["spec"], size="small")))
    assert code == 409
    assert err["reason"] == "Conflict" and "the object has been modified" in err["message"]


def test_a_put_without_resource_version_on_a_custom_resource_is_invalid(emulator, ns):
    obj = _create(emulator, ns, "w")
    del obj["metadata"]["resourceVersion"]
    code, err = emulator.request("PUT", f"{WIDGETS}/namespaces/{ns}/widgets/w", obj)
    assert code == 422 and "must be specified for an update" in err["message"]


def test_a_noop_update_keeps_the_resource_version(emulator, ns):
    obj = _create(emulator, ns, "w")
    code, same = emulator.request("PUT", f"{WIDGETS}/namespaces/{ns}/widgets/w", obj)
    assert code == 200 and same["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]


def test_status_writes_change_only_status_and_main_writes_ignore_status(emulator, ns):
    url = f"{WIDGETS}/namespaces/{ns}/widgets/w"
    _create(emulator, ns, "w")
    code, obj = emulator.request(
        "PATCH",
        f"{url}/status",
        {"spec": {"size": "large"}, "status": {"observedGeneration": 1}},
        "application/merge-patch+json",
    )
    assert code == 200
    assert obj["spec"]["size"] == "medium" and obj["status"] == {"observedGeneration": 1}
    assert obj["metadata"]["generation"] == 1
    code, obj = emulator.request(
        "PATCH", url, {"spec": {"size": "small"}, "status": {"observedGeneration": 9}}, "application/merge-patch+json"
    )
    assert obj["spec"]["size"] == "small" and obj["status"] == {"observedGeneration": 1}
    assert obj["metadata"]["generation"] == 2


def test_a_create_drops_the_status_of_a_resource_with_a_status_subresource(emulator, ns):
    body = dict(_widget("w", ns), status={"observedGeneration": 5})
    code, obj = emulator.request("POST", f"{WIDGETS}/namespaces/{ns}/widgets", body)
    assert code == 201 and "status" not in obj


@differs_on_real("managedFields also record Update operations (by user agent)")
def test_server_side_apply_of_status_merges_and_removes_what_the_manager_dropped(emulator, ns):
    url = f"{WIDGETS}/namespaces/{ns}/widgets/w/status?fieldManager=tollgate&force=true"
    _create(emulator, ns, "w")

    def apply(status):
        doc = {
            "apiVersion": "test.tollgate.dev/v1alpha1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "status": status,
        }
        code, obj = emulator.request("PATCH", url, json.dumps(doc), "application/apply-patch+yaml")
        assert code == 200, obj
        return obj

    first = apply({"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "False"}]})
    second = apply({"conditions": [{"type": "Ready", "status": "True"}]})
    assert second["status"] == {"conditions": [{"type": "Ready", "status": "True"}]}
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    third = apply({"conditions": [{"type": "Ready", "status": "True"}]})
    assert third["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"], (
        "an unchanged apply writes nothing"
    )
    managers = [(m["manager"], m["operation"], m.get("subresource")) for m in third["metadata"]["managedFields"]]
    assert managers == [("tollgate", "Apply", "status")]


def test_server_side_apply_creates_a_missing_object_and_needs_a_field_manager(emulator, ns):
    url = f"{WIDGETS}/namespaces/{ns}/widgets/w"
    body = json.dumps(_widget("w", ns))
    code, err = emulator.request("PATCH", url, body, "application/apply-patch+yaml")
    assert code == 422 and err["reason"] == "Invalid" and "fieldManager" in err["message"], err
    code, obj = emulator.request("PATCH", f"{url}?fieldManager=me", body, "application/apply-patch+yaml")
    assert code == 201 and obj["spec"]["size"] == "medium"


def test_generate_name_gives_unique_names(emulator, ns):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "cm-"}}
    names = {
        emulator.request("POST", f"/api/v1/namespaces/{ns}/configmaps", body)[1]["metadata"]["name"] for _ in range(3)
    }
    assert len(names) == 3 and all(n.startswith("cm-") and len(n) == 8 for n in names)


@pytest.mark.parametrize(
    "method, path, body, code, reason",
    [
        ("POST", "/api/v1/namespaces/missing/configmaps", {"metadata": {"name": "x"}}, 404, "NotFound"),
        ("GET", "/api/v1/namespaces/{ns}/configmaps/nope", None, 404, "NotFound"),
        ("POST", "/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "Bad_Name"}}, 422, "Invalid"),
        ("POST", "/api/v1/namespaces/{ns}/configmaps", {"metadata": {}}, 422, "Invalid"),
        (
            "POST",
            "/api/v1/namespaces/{ns}/configmaps",
            {"kind": "Secret", "metadata": {"name": "x"}},
            400,
            "BadRequest",
        ),
        ("PATCH", "/api/v1/namespaces/{ns}/configmaps/nope", {}, 404, "NotFound"),
        pytest.param(
            "GET",
            "/apis/nothing.example/v1/things",
            None,
            404,
            "NotFound",
            marks=differs_on_real("an unknown API group is a plain-text 404 page, not a Status"),
        ),
    ],
)
def test_errors_are_status_objects_with_the_api_servers_codes(emulator, ns, method, path, body, code, reason):
    ctype = "application/merge-patch+json" if method == "PATCH" else "application/json"
    got, status = emulator.request(method, path.format(ns=ns), body, ctype)
    assert got == code
    assert status["kind"] == "Status" and status["reason"] == reason and status["code"] == code


def test_creating_an_existing_object_is_already_exists(emulator, ns):
    _create(emulator, ns, "w")
    code, err = emulator.request("POST", f"{WIDGETS}/namespaces/{ns}/widgets", _widget("w", ns))
    assert code == 409 and err["reason"] == "AlreadyExists"


def test_paging_with_limit_and_continue_returns_every_object_once(emulator, ns):
    for i in range(5):
        _create(emulator, ns, f"w{i}")
    names, token, pages = [], "", 0
    while True:
        code, page = emulator.request(
            "GET", f"{WIDGETS}/namespaces/{ns}/widgets?limit=2" + (f"&continue={token}" if token else "")
        )
        pages += 1
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    assert names == [f"w{i}" for i in range(5)] and pages == 3


def test_finalizers_delay_deletion_until_they_are_removed(emulator, ns):
    url = f"/api/v1/namespaces/{ns}/configmaps/cm"
    emulator.request("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "cm", "finalizers": ["x/y"]}})
    code, obj = emulator.request("DELETE", url)
    assert code == 200 and obj["metadata"]["deletionTimestamp"]
    assert emulator.request("GET", url)[0] == 200
    emulator.request("PATCH", url, {"metadata": {"finalizers": None}}, "application/merge-patch+json")
    assert emulator.request("GET", url)[0] == 404


@differs_on_real("no namespace controller runs beside the real server")
def test_deleting_a_namespace_deletes_its_objects(emulator, ns):
    _create(emulator, ns, "w")
    assert emulator.request("DELETE", f"/api/v1/namespaces/{ns}")[0] == 200
    assert emulator.request("GET", f"{WIDGETS}/namespaces/{ns}/widgets/w")[0] == 404


@differs_on_real("an events.k8s.io Event reads back as a core Event without source")
def test_an_event_written_as_events_k8s_io_reads_back_as_a_core_event(emulator, ns):
    event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "e1"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "tollgate.dev/controller",
        "reportingInstance": "pod-1",
        "action": "Reconcile",
        "reason": "Programmed",
        "type": "Normal",
        "note": "all proxies hold the config",
        "regarding": {"kind": "Widget", "name": "w", "namespace": ns},
    }
    assert emulator.request("POST", f"/apis/events.k8s.io/v1/namespaces/{ns}/events", event)[0] == 201
    _, core = emulator.request("GET", f"/api/v1/namespaces/{ns}/events?fieldSelector=involvedObject.name%3Dw")
    [item] = core["items"]
    assert item["message"] == "all proxies hold the config" and item["involvedObject"]["name"] == "w"
    assert item["source"] == {"component": "tollgate.dev/controller", "host": "pod-1"}


def test_metadata_only_lists_answer_partial_object_metadata(emulator, ns):
    _create(emulator, ns, "w")
    code, listed = emulator.request(
        "GET",
        f"{WIDGETS}/namespaces/{ns}/widgets",
        headers={"Accept": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"},
    )
    assert listed["kind"] == "PartialObjectMetadataList"
    assert listed["items"][0]["metadata"]["name"] == "w" and "spec" not in listed["items"][0]


@differs_on_real("a new CRD is served only once Established (moments later)")
def test_deleting_a_crd_stops_serving_its_resources(emulator):
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "temps.test.tollgate.dev"},
        "spec": {
            "group": "test.tollgate.dev",
            "scope": "Cluster",
            "names": {"kind": "Temp", "plural": "temps"},
            "versions": [
                {"name": "v9", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}}}
            ],
        },
    }
    assert emulator.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)[0] == 201
    _, rl = emulator.request("GET", "/apis/test.tollgate.dev/v9")
    assert [r["name"] for r in rl["resources"]] == ["temps"]
    assert emulator.request("POST", "/apis/test.tollgate.dev/v9/temps", {"metadata": {"name": "t"}})[0] == 201
    emulator.request("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/temps.test.tollgate.dev")
    assert emulator.request("GET", "/apis/test.tollgate.dev/v9/temps")[0] == 404
