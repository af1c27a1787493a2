"""The front splits ``/clusters/{id}/…`` once per distinct target and keeps a bounded memory of them."""

from __future__ import annotations

from shoal.gateway import front


def test_split_target_decodes_the_path_and_keeps_the_query_raw() -> None:
    url = b"/clusters/BCS-K8S-40001/api/v1/namespaces/a%2Fb/pods?labelSelector=app%3Dweb&watch=1"
    query = b"labelSelector=app%3Dweb&watch=1"
    assert front._split_target(url) == ("BCS-K8S-40001", b"/api/v1/namespaces/a%2Fb/pods?" + query,
                                        "/api/v1/namespaces/a/b/pods", query)
    assert front._TARGETS[url][0] == "BCS-K8S-40001"
    assert front._split_target(b"/clusters/C") == ("C", b"/", "/", b"")


def test_remembered_targets_are_bounded() -> None:
    for i in range(front._MAX_TARGETS + 10):
        front._split_target(b"/clusters/C/api/v1/namespaces/ns-%d/pods" % i)
    assert len(front._TARGETS) <= front._MAX_TARGETS
