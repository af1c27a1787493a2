"""The gateway splits ``/clusters/{id}/…`` once per distinct target and keeps a bounded memory of them."""

from __future__ import annotations

from shoal.gateway import core


def test_split_target_decodes_the_path_and_keeps_the_query_raw() -> None:
    url = b"/clusters/BCS-K8S-40001/api/v1/namespaces/a%2Fb/pods?labelSelector=app%3Dweb&watch=1"
    query = b"labelSelector=app%3Dweb&watch=1"
    assert core.split_target(url) == ("BCS-K8S-40001", b"/api/v1/namespaces/a%2Fb/pods?" + query,
                                        "/api/v1/namespaces/a/b/pods", query)
    assert core.SPLIT_TARGETS[url][0] == "BCS-K8S-40001"
    assert core.split_target(b"/clusters/C") == ("C", b"/", "/", b"")


def test_remembered_targets_are_bounded() -> None:
    for i in range(core._MAX_ENTRIES + 10):
        core.split_target(b"/clusters/C/api/v1/namespaces/ns-%d/pods" % i)
    assert len(core.SPLIT_TARGETS) <= core._MAX_ENTRIES
