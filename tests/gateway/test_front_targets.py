"""The gateway splits ``/clusters/{id}/…`` once per distinct target and keeps a bounded memory of them."""

from __future__ import annotations

from shoal.gateway import core


def test_split_target_decodes_the_path_and_keeps_the_query_raw() -> None:
    url = b"/clusters/BCS-K8S-40001/api/v1/namespaces/a/services/web%3A80/proxy?labelSelector=app%3Dweb&watch=1"
    query = b"labelSelector=app%3Dweb&watch=1"
    assert core.split_target(url) == ("BCS-K8S-40001", b"/api/v1/namespaces/a/services/web%3A80/proxy?" + query,
                                        "/api/v1/namespaces/a/services/web:80/proxy", query)
    assert core.SPLIT_TARGETS[url][0] == "BCS-K8S-40001"
    assert core.split_target(b"/clusters/C") == ("C", b"/", "/", b"")


def test_an_encoded_slash_stays_visible_for_the_path_check() -> None:
    """Decoded, '%2F' would be a separator; kept as '%2F' so that ``check_path`` refuses it (issue 13)."""
    for raw in (b"a%2Fb", b"a%2fb"):
        path = core.split_target(b"/clusters/C/api/v1/namespaces/" + raw + b"/pods")[2]
        assert path == "/api/v1/namespaces/a%2Fb/pods"


def test_remembered_targets_are_bounded() -> None:
    for i in range(core._MAX_ENTRIES + 10):
        core.split_target(b"/clusters/C/api/v1/namespaces/ns-%d/pods" % i)
    assert len(core.SPLIT_TARGETS) <= core._MAX_ENTRIES
