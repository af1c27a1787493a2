"""exec, attach and port-forward through the real kubectl 1.37 and the official Python client.

kubectl runs each command twice: over websockets (its default) and over SPDY/3.1
(``KUBECTL_*_WEBSOCKETS=false``); port-forward's default is SPDY tunnelled inside a
websocket. Every test names the upstream source defining what it checks.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import select
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.stream import portforward, stream

from kubesim.runner import Simulator
from kubesim.spdy import DICTIONARY, HeaderCodec
from tests.kubesim.conftest import KUBECTL
from tests.kubesim.streams_support import (
    PODS,
    PROTOCOLS,
    VERBOSE,
    assert_protocol_used,
    echo_through,
    http_through,
    port_forward,
    split_log,
)


@pytest.fixture(scope="module")
def stream_sim() -> Iterator[Simulator]:
    sim = Simulator(nodes=1, seed_workloads=False).start()
    for pod in PODS:
        sim.cluster().create("pods", pod, "default")
    try:
        yield sim
    finally:
        sim.stop()


def _env(tmp_path: Path, protocol: str) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "HOME": str(home), "KUBECACHEDIR": str(home / "cache"), **PROTOCOLS[protocol],
            "STREAM_PROTOCOL": protocol}


def _kubectl(sim: Simulator, env: dict[str, str], *args: str, stdin: str | None = None, identity: str = "admin"
             ) -> subprocess.CompletedProcess[str]:
    """Run kubectl at -v=4; check from its log that it used the protocol asked for; stderr without the log."""
    proc = subprocess.run([KUBECTL, "--kubeconfig", sim.kubeconfig_path(identity), VERBOSE, *args],
                          capture_output=True, text=True, env=env, input=stdin, timeout=60)
    proc.stderr, log = split_log(proc.stderr)
    if identity == "admin":  # a refused upgrade makes kubectl try SPDY too (remotecommand/fallback.go)
        assert_protocol_used(env["STREAM_PROTOCOL"], log)
    return proc


@pytest.mark.parametrize("protocol", ["websocket", "spdy"])
def test_kubectl_exec_stdout_stderr_and_exit_code(stream_sim: Simulator, tmp_path: Path, protocol: str) -> None:
    """pkg/kubelet/cri/streaming/remotecommand/websocket.go and httpstream.go (v5/v4 channels and streams);
    the Status on the error channel/stream with reason NonZeroExitCode and an ExitCode cause is
    remotecommand/exec.go's, which kubectl (staging/src/k8s.io/client-go/tools/remotecommand/errorstream.go)
    turns into its own exit code."""
    env = _env(tmp_path, protocol)
    ok = _kubectl(stream_sim, env, "exec", "stream-shell", "--", "sh", "-c", "echo $GREETING; hostname")
    assert (ok.returncode, ok.stdout) == (0, "hello\nstream-shell\n")
    failed = _kubectl(stream_sim, env, "exec", "stream-shell", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert failed.returncode == 3
    assert failed.stdout == "out\n"
    assert failed.stderr.startswith("err\n") and "command terminated with exit code 3" in failed.stderr


@pytest.mark.parametrize("protocol", ["websocket", "spdy"])
def test_kubectl_exec_reads_stdin_until_closed(stream_sim: Simulator, tmp_path: Path, protocol: str) -> None:
    """stdin ends with the v5 close signal (channel 255, remotecommand/websocket.go) over websockets and with
    the stdin stream's half-close (FLAG_FIN) over SPDY (remotecommand/httpstream.go)."""
    env = _env(tmp_path, protocol)
    piped = _kubectl(stream_sim, env, "exec", "-i", "stream-shell", "--", "cat", stdin="line one\nline two\n")
    assert (piped.returncode, piped.stdout) == (0, "line one\nline two\n")
    script = _kubectl(stream_sim, env, "exec", "-i", "stream-shell", "--", "sh", stdin="echo $GREETING\nexit 4\n")
    assert (script.returncode, script.stdout) == (4, "hello\n")


@pytest.mark.parametrize("protocol", ["websocket", "spdy"])
def test_kubectl_exec_with_a_terminal(stream_sim: Simulator, tmp_path: Path, protocol: str) -> None:
    """``exec -it`` from a real terminal: kubectl opens the resize stream (remotecommand/httpstream.go, tty) or
    sends channel 4 (websocket.go); the container's pty merges stderr into stdout and its ONLCR writes
    "\\r\\n"; the exit code still comes back."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([KUBECTL, "--kubeconfig", stream_sim.kubeconfig_path("admin"), VERBOSE, "exec", "-it",
                             "stream-shell", "--", "sh", "-c", "echo tty-$HOSTNAME; echo to-err >&2; exit 6"],
                            stdin=slave, stdout=slave, stderr=slave, env=_env(tmp_path, protocol), close_fds=True)
    os.close(slave)
    out = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 15)
            assert ready, out
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: kubectl exited and the terminal is gone
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
    assert proc.wait(timeout=10) == 6
    text, log = split_log(out.decode())
    assert_protocol_used(protocol, log)
    # kubectl's terminal is raw while the command runs: these bytes are the container's own
    assert b"tty-stream-shell\r\nto-err\r\n" in out and "command terminated with exit code 6" in text, out


@pytest.mark.parametrize("protocol", ["websocket", "spdy"])
def test_kubectl_exec_interactive_shell(stream_sim: Simulator, tmp_path: Path, protocol: str) -> None:
    """``kubectl exec -it … -- sh`` typed at a terminal: keystrokes go out as they are typed (stdin channel 0 /
    the stdin stream, never closed while the terminal is open), the shell answers line by line and ``exit 4``
    ends the session with that code (remotecommand/websocket.go, httpstream.go)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([KUBECTL, "--kubeconfig", stream_sim.kubeconfig_path("admin"), "exec", "-it",
                             "stream-shell", "--", "sh"], stdin=slave, stdout=slave, stderr=slave,
                            env=_env(tmp_path, protocol), close_fds=True)
    os.close(slave)
    out = b""

    def read_until(marker: bytes) -> None:
        nonlocal out
        while marker not in out:
            ready, _, _ = select.select([master], [], [], 15)
            assert ready, out
            out += os.read(master, 65536)

    try:
        read_until(b"# ")
        os.write(master, b"echo $GREETING from $HOSTNAME\r")
        read_until(b"hello from stream-shell\r\n# ")
        os.write(master, b"exit 4\r")
        assert proc.wait(timeout=15) == 4, out
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("protocol", ["websocket", "spdy"])
def test_kubectl_attach_feeds_the_main_process(stream_sim: Simulator, tmp_path: Path, protocol: str) -> None:
    """``kubectl attach -i`` (staging/src/k8s.io/kubectl/pkg/cmd/attach/attach.go) to a container with
    ``stdin: true`` whose process is ``cat``: the kubelet's attach (remotecommand/attach.go) joins that
    process, so what goes in comes back out."""
    env = _env(tmp_path, protocol)
    attached = _kubectl(stream_sim, env, "attach", "-i", "stream-cat", stdin="attached\n")
    assert (attached.returncode, attached.stdout) == (0, "attached\n"), attached.stderr


@pytest.mark.parametrize("protocol", ["websocket", "spdy"])
def test_kubectl_port_forward(stream_sim: Simulator, tmp_path: Path, protocol: str) -> None:
    """Websocket: SPDY inside a websocket (client-go/tools/portforward/tunneling_connection.go, subprotocol
    ``SPDY/3.1+portforward.k8s.io``); SPDY: pkg/kubelet/cri/streaming/portforward/httpstream.go (an error and
    a data stream per connection, paired by ``requestID``). A port the pod does not declare is refused with
    the kubelet's message on the error stream."""
    env = _env(tmp_path, protocol)

    def start(*ports: str) -> subprocess.Popen[str]:
        return subprocess.Popen([KUBECTL, "--kubeconfig", stream_sim.kubeconfig_path("admin"), VERBOSE, "port-forward",
                                 "pod/stream-web", *ports], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)

    tunnel = '"Negotiation complete" protocol="portforward.k8s.io"'
    with port_forward(lambda: start(":8080")) as (port, proc):
        for _ in range(2):  # one tunnel, a new pair of streams per connection
            reply = http_through(port)
            assert reply.startswith(b"HTTP/1.1 200 OK") and reply.endswith(b"kubesim: pod stream-web port 8080\n")
        assert echo_through(port, b"ping " * 10000) == b"ping " * 10000  # larger than one SPDY frame
        proc.terminate()
        log = split_log(proc.communicate(timeout=10)[1])[1]
    assert_protocol_used(protocol, log)
    assert (tunnel in log) == (protocol == "websocket"), log
    with port_forward(lambda: start(":9999")) as (port, proc):
        assert http_through(port) == b""
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "error forwarding port 9999 to pod stream-web" in err and "connection refused" in err


@pytest.mark.parametrize("protocol", ["websocket", "spdy"])
def test_kubectl_streams_are_authorised_before_the_upgrade(stream_sim: Simulator, tmp_path: Path,
                                                           protocol: str) -> None:
    """exec, attach and port-forward are ``create`` on ``pods/exec|attach|portforward``; a viewer is refused with
    403 before any 101, worded as apiserver's endpoints/handlers/responsewriters/errors.go (forbiddenMessage):
    the object by its resource, the verb's resource with the subresource."""
    env = _env(tmp_path, protocol)
    for args, sub in ((("exec", "stream-shell", "--", "true"), "exec"), (("attach", "stream-cat"), "attach"),
                      (("port-forward", "pod/stream-web", ":8080"), "portforward")):
        refused = _kubectl(stream_sim, env, *args, identity="viewer")
        assert refused.returncode == 1
        assert (f'pods "{args[1].removeprefix("pod/")}" is forbidden: User "kubesim-viewer" cannot create resource '
                f'"pods/{sub}" in API group "" in the namespace "default"') in refused.stderr, refused.stderr


def test_python_client_exec_reports_status_on_the_error_channel(stream_sim: Simulator) -> None:
    """kubernetes/stream/ws_client.py reads channel 3 for ``returncode``; the JSON is the kubelet's
    (remotecommand/websocket.go writes the exec.go Status: NonZeroExitCode, causes[{ExitCode, "7"}])."""
    api = config.new_client_from_config(config_file=stream_sim.kubeconfig_path("admin"))
    try:
        v1 = client.CoreV1Api(api)
        resp = stream(v1.connect_get_namespaced_pod_exec, "stream-shell", "default",
                      command=["sh", "-c", "echo out; echo err >&2; exit 7"], stdin=False, stdout=True,
                      stderr=True, tty=False, _preload_content=False)
        resp.run_forever(timeout=10)
        assert resp.read_stdout() == "out\n" and resp.read_stderr() == "err\n"
        status = json.loads(resp.read_channel(3))
        assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
        assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "7"}]
        resp.close()
        ok = stream(v1.connect_get_namespaced_pod_exec, "stream-shell", "default", command=["true"],
                    stdin=False, stdout=True, stderr=True, tty=False, _preload_content=False)
        ok.run_forever(timeout=10)
        assert ok.returncode == 0
        ok.close()
    finally:
        api.close()


def test_python_client_port_forward_channel_pairs(stream_sim: Simulator) -> None:
    """kubernetes/stream/ws_client.py ``portforward``: ``ports=8080,9999`` gives channels 0/1 and 2/3, each
    opened with the port as 2 bytes little-endian (the client rejects any other number); an undeclared
    port's error channel carries the kubelet's message (portforward/websocket.go)."""
    api = config.new_client_from_config(config_file=stream_sim.kubeconfig_path("admin"))
    try:
        v1 = client.CoreV1Api(api)
        pf = portforward(v1.connect_get_namespaced_pod_portforward, "stream-web", "default", ports="8080,9999")
        sock = pf.socket(8080)
        sock.setblocking(True)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: web\r\n\r\n")
        reply = b""
        while b"port 8080" not in reply:
            chunk = sock.recv(4096)
            assert chunk
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200 OK")
        refused = pf.socket(9999)
        refused.setblocking(True)
        refused.sendall(b"hello")
        assert refused.recv(4096) == b""  # the client closes the socket once the error channel has spoken
        assert pf.error(9999) is not None and "failed to connect to localhost:9999: connection refused" in \
            (pf.error(9999) or "")
        assert pf.error(8080) is None
        sock.close()
        pf.close()
    finally:
        api.close()


def test_spdy_header_dictionary_and_compression() -> None:
    """The SPDY/3 dictionary (draft 3, 2.6.10.1; moby/spdystream spdy/dictionary.go) is 1423 bytes with a
    known digest; one zlib stream per direction carries every header block of a session."""
    assert len(DICTIONARY) == 1423
    assert hashlib.sha256(DICTIONARY).hexdigest() == "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02"
    sender, receiver = HeaderCodec(), HeaderCodec()
    first = sender.encode([("streamType", "error"), ("X-Multi", "a\x00b")])
    second = sender.encode([("streamType", "stdout")])
    assert receiver.decode(first) == {"streamtype": ["error"], "x-multi": ["a", "b"]}
    assert receiver.decode(second) == {"streamtype": ["stdout"]}
