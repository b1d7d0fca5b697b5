"""Tollgate's own CRDs (crds/) and quickstart manifests through kubectl, as the end-to-end suite uses them."""

from __future__ import annotations

import pytest

from .conftest import REPO

CRDS = REPO / "crds"
QUICKSTART = REPO / "examples" / "quickstart"
pytestmark = pytest.mark.skipif(not any(CRDS.glob("*.yaml")), reason="crds/ has no CRDs yet")


@pytest.fixture
def tollgate(emulator, ns):
    emulator.kubectl("apply", "-f", str(CRDS))
    return ns


def test_the_quickstart_manifests_apply_against_the_crds(emulator, tollgate):
    if not any(QUICKSTART.glob("*.yaml")):
        pytest.skip("examples/quickstart has no manifests yet")
    out = emulator.kubectl("apply", "-n", tollgate, "-f", str(QUICKSTART))
    assert "created" in out.stdout
    listed = emulator.kubectl_json("get", "gatewayroutes.tollgate.dev", "-n", tollgate)
    assert listed["items"], "the quickstart defines at least one GatewayRoute"


def test_an_auth_plugin_with_the_block_of_another_type_is_rejected_by_its_cel_rule(emulator, tollgate):
    manifest = f"""apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {{name: mixed, namespace: {tollgate}}}
spec:
  type: oauth2
  openidConnect: {{}}
"""
    res = emulator.kubectl("apply", "-f", "-", stdin=manifest, check=False)
    assert res.returncode != 0
    assert 'The AuthPlugin "mixed" is invalid' in res.stderr


def test_a_consumer_with_an_unknown_field_is_refused(emulator, tollgate):
    manifest = f"""apiVersion: tollgate.dev/v1alpha1
kind: Consumer
metadata: {{name: c, namespace: {tollgate}}}
spec: {{username: c, notAField: 1}}
"""
    res = emulator.kubectl("apply", "-f", "-", stdin=manifest, check=False)
    assert res.returncode != 0 and 'unknown field "spec.notAField"' in res.stderr
