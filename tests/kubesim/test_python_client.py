"""The official ``kubernetes`` Python client (v37, strict models) against kubesim."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

from kubesim.runner import Simulator


@pytest.fixture
def api(sim: Simulator) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=sim.kubeconfig_path("admin"))
    try:
        yield api_client
    finally:
        api_client.close()


def _pod(name: str, **labels: str) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels or None),
        spec=client.V1PodSpec(containers=[client.V1Container(
            name="main", image="busybox:1.36", env=[client.V1EnvVar(name="GREETING", value="hello")])]),
    )


def test_list_nodes_pods_namespaces(api: client.ApiClient, sim: Simulator) -> None:
    v1 = client.CoreV1Api(api)
    nodes = v1.list_node().items
    assert [n.metadata.name for n in nodes] == sim.cluster().node_names()
    info = nodes[0].status.node_info
    assert info.kubelet_version == "v1.37.1" and info.container_runtime_version.startswith("containerd://")
    assert any(a.type == "InternalIP" for a in nodes[0].status.addresses)
    pods = v1.list_pod_for_all_namespaces().items
    assert pods and all(p.status.phase == "Running" for p in pods)
    assert {"default", "kube-system"} <= {n.metadata.name for n in v1.list_namespace().items}
    deployments = client.AppsV1Api(api).list_deployment_for_all_namespaces().items
    assert [d.metadata.name for d in deployments] == ["coredns"]
    assert deployments[0].status.ready_replicas == 2


def test_kube_system_uid(api: client.ApiClient, sim: Simulator) -> None:
    ns = client.CoreV1Api(api).read_namespace("kube-system")
    assert ns.metadata.uid == sim.cluster().kube_system_uid
    assert ns.status.phase == "Active"


def test_create_read_delete_pod(api: client.ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    created = v1.create_namespaced_pod("default", _pod("p1", app="demo"))
    assert created.metadata.uid and created.metadata.resource_version
    assert created.status.phase == "Pending"
    read = v1.read_namespaced_pod("p1", "default")
    assert read.status.phase == "Running" and read.spec.node_name
    assert read.status.container_statuses[0].ready is True
    with pytest.raises(ApiException) as exc:
        v1.create_namespaced_pod("default", _pod("p1"))
    assert exc.value.status == 409
    v1.delete_namespaced_pod("p1", "default")
    with pytest.raises(ApiException) as exc:
        v1.read_namespaced_pod("p1", "default")
    assert exc.value.status == 404


def test_watch_receives_changes(api: client.ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    rv = v1.list_namespaced_pod("default").metadata.resource_version
    seen: list[tuple[str, str]] = []
    w = watch.Watch()

    def consume() -> None:
        for ev in w.stream(v1.list_namespaced_pod, "default", resource_version=rv, timeout_seconds=20):
            seen.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "DELETED":
                w.stop()

    t = threading.Thread(target=consume)
    t.start()
    v1.create_namespaced_pod("default", _pod("watched"))
    v1.delete_namespaced_pod("watched", "default")
    t.join(timeout=10)
    assert not t.is_alive()
    assert seen[0] == ("ADDED", "watched")
    assert ("MODIFIED", "watched") in seen and seen[-1] == ("DELETED", "watched")


def test_stream_exec(api: client.ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    v1.create_namespaced_pod("default", _pod("sh"))
    out = stream(v1.connect_get_namespaced_pod_exec, "sh", "default",
                 command=["sh", "-c", "echo $GREETING; hostname"], stderr=True, stdin=False, stdout=True,
                 tty=False)
    assert out == "hello\nsh\n"


def test_logs_and_events(api: client.ApiClient, sim: Simulator) -> None:
    v1 = client.CoreV1Api(api)
    v1.create_namespaced_pod("default", _pod("logger"))
    sim.cluster().append_log("default", "logger", "main", "ready to serve")
    text = v1.read_namespaced_pod_log("logger", "default")
    assert text.splitlines()[-1] == "ready to serve"
    events = v1.list_namespaced_event("default", field_selector="involvedObject.name=logger").items
    assert {e.reason for e in events} == {"Scheduled", "Pulled", "Created", "Started"}


def test_deployment_scale_and_patch(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="api"),
        spec=client.V1DeploymentSpec(
            replicas=1, selector=client.V1LabelSelector(match_labels={"app": "api"}),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels={"app": "api"}),
                                              spec=client.V1PodSpec(containers=[
                                                  client.V1Container(name="api", image="api:1")]))))
    apps.create_namespaced_deployment("default", body)
    apps.patch_namespaced_deployment_scale("api", "default", {"spec": {"replicas": 3}})
    dep = apps.read_namespaced_deployment("api", "default")
    assert dep.spec.replicas == 3 and dep.status.ready_replicas == 3
    assert dep.metadata.generation == 2
    pods = client.CoreV1Api(api).list_namespaced_pod("default", label_selector="app=api").items
    assert len(pods) == 3


def test_port_forward_websocket(api: client.ApiClient) -> None:
    from kubernetes.stream import portforward

    v1 = client.CoreV1Api(api)
    pod = _pod("web")
    pod.spec.containers[0].ports = [client.V1ContainerPort(container_port=8080)]
    v1.create_namespaced_pod("default", pod)
    pf = portforward(v1.connect_get_namespaced_pod_portforward, "web", "default", ports="8080")
    sock = pf.socket(8080)
    sock.setblocking(True)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: web\r\n\r\n")
    reply = b""
    while b"port 8080" not in reply:
        chunk = sock.recv(4096)
        assert chunk
        reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 OK")
    sock.close()
    pf.close()


def test_exec_stdin_tty_and_resize(api: client.ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    v1.create_namespaced_pod("default", _pod("tty"))
    resp = stream(v1.connect_get_namespaced_pod_exec, "tty", "default", command=["sh"], stdin=True,
                  stdout=True, stderr=True, tty=True, _preload_content=False)
    resp.write_channel(4, '{"Width": 120, "Height": 40}')
    resp.write_stdin("echo one; echo two >&2; exit 5\n")
    resp.close_channel(0)
    out = ""
    while resp.is_open():
        resp.update(timeout=5)
        out += resp.read_stdout()
    resp.close()
    # on a terminal sh is interactive (prompt, echo of the typed line) and the pty's ONLCR writes "\r\n"
    assert out.endswith("echo one; echo two >&2; exit 5\r\none\r\ntwo\r\n"), out
    assert resp.returncode == 5


def test_events_v1_view_of_core_events(api: client.ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    v1.create_namespaced_pod("default", _pod("seen"))
    events = client.EventsV1Api(api).list_namespaced_event("default").items
    scheduled = next(e for e in events if e.regarding.name == "seen" and e.reason == "Scheduled")
    assert scheduled.note.startswith("Successfully assigned default/seen")
    assert scheduled.reporting_controller == "default-scheduler"
    created = client.EventsV1Api(api).create_namespaced_event("default", client.EventsV1Event(
        metadata=client.V1ObjectMeta(name="custom.1"), event_time="2026-01-01T00:00:00.000000Z",
        reporting_controller="shoal", reporting_instance="shoal-1", action="Sync", reason="Synced",
        regarding=client.V1ObjectReference(kind="Pod", name="seen", namespace="default"), note="hello",
        type="Normal"))
    assert created.note == "hello"
    core = v1.read_namespaced_event("custom.1", "default")
    assert core.message == "hello" and core.involved_object.name == "seen"
