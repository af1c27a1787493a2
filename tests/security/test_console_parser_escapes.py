"""The console escapes the review found (and two more found on the way), against the real kubectl 1.37.

For each: first the real kubectl, given the words directly, really does the harm (prints a server
file, fetches an address chosen by the user, writes an exec credential plugin into the kubeconfig)
— so the test would notice if the line stopped being dangerous and the refusal stopped meaning
anything. Then the same line typed into the console's shell (``Shell.handle``, real kubectl behind
it) is refused, and the harm does not happen: the file is not printed, the address gets no
connection, the kubeconfig is unchanged.
"""

from __future__ import annotations

import io
import json
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.console.relay import _certificates
from shoal.console.shell import REFUSED_STATUS, Shell

KUBECTL = str(Path(sys.executable).parent / "kubectl")
KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}
users:
- name: shoal
  user: {token: console-token}
contexts:
- name: x
  context: {cluster: c, user: shoal, namespace: default}
current-context: x
"""


class Listener:
    """A plain HTTP listener on loopback that counts connections and answers 404 (an internal address)."""

    def __init__(self, tls_dir: Path | None = None) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.tls: ssl.SSLContext | None = None
        if tls_dir is not None:  # HTTPS, as the gateway: kubectl sends a bearer token only over TLS
            _, cert, key = _certificates()
            (tls_dir / "cert.pem").write_bytes(cert)
            (tls_dir / "key.pem").write_bytes(key)
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(tls_dir / "cert.pem", tls_dir / "key.pem")
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.getsockname()[1]}"
        self.requests: list[bytes] = []
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                if self.tls is not None:
                    conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:
                conn.close()
                continue
            with conn:
                try:
                    self.requests.append(conn.recv(65536))
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self.stopping = True
        self.thread.join()
        self.server.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "bin").mkdir()
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    (tmp_path / "sentinel").write_text("SENTINEL-of-the-data-dir\n")
    return tmp_path


def _env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "PATH": str(home / "bin"), "KUBECONFIG": str(home / "kubeconfig"),
            "KUBECACHEDIR": str(home / "cache")}


def kubectl_directly(home: Path, line: str) -> subprocess.CompletedProcess[str]:
    """The words after ``kubectl`` given straight to the real kubectl, as the console's old parser let them."""
    import shlex

    return subprocess.run([KUBECTL, *shlex.split(line)[1:]], env=_env(home), capture_output=True, text=True,
                          timeout=60, check=False)


def console_line(home: Path, line: str) -> tuple[str, dict[str, object]]:
    """``line`` typed into the console's shell with the real kubectl behind it: (shell output, audit event)."""
    out, events = io.StringIO(), io.StringIO()
    shell = Shell({**_env(home), "SHOAL_CONSOLE_KUBECTL": KUBECTL, "SHOAL_CONSOLE_LANG": "en",
                   "SHOAL_CONSOLE_FILTERS": "{}"}, events, out)
    assert shell.handle(line) is True
    (event,) = [json.loads(x) for x in events.getvalue().splitlines()]
    return out.getvalue(), event


@pytest.mark.parametrize(("line", "key"), [
    ("kubectl create configmap x --dry-run=client -o yaml -n -- --from-file={sentinel}", "console.refused.dash_value"),
    # found while building the table: kubectl reads "_" as "-" in flag names
    ("kubectl create configmap x --dry-run=client -o yaml --from_file={sentinel}", "console.refused.flag"),
])
def test_flag_values_and_spellings_no_longer_print_a_server_file(home: Path, capfd: pytest.CaptureFixture[str],
                                                                line: str, key: str) -> None:
    line = line.format(sentinel=home / "sentinel")
    direct = kubectl_directly(home, line)
    assert "SENTINEL-of-the-data-dir" in direct.stdout, direct  # the hole is real
    capfd.readouterr()
    out, event = console_line(home, line)
    printed = capfd.readouterr()
    assert event["refused"] == key and event["exit"] == REFUSED_STATUS
    assert "SENTINEL" not in out + printed.out + printed.err


def test_config_view_flatten_no_longer_prints_the_sessions_token(home: Path, capfd: pytest.CaptureFixture[str]
                                                                ) -> None:
    assert "console-token" in kubectl_directly(home, "kubectl config view --flatten").stdout  # the hole is real
    capfd.readouterr()
    out, event = console_line(home, "kubectl config view --flatten")
    printed = capfd.readouterr()
    assert event["refused"] == "console.refused.flag"
    assert "console-token" not in out + printed.out + printed.err
    console_line(home, "kubectl config view")  # without --flatten kubectl prints REDACTED
    printed = capfd.readouterr()
    assert "REDACTED" in printed.out and "console-token" not in printed.out


@pytest.mark.parametrize(("line", "key"), [
    ("kubectl get pods -As {url}", "console.refused.flag"),
    ("kubectl --field-manager logs apply -f {url}/manifest.yaml", "console.refused.flag_too_early"),
])
def test_unknown_flags_and_bundles_no_longer_reach_an_address(home: Path, listener: Listener, line: str,
                                                              key: str) -> None:
    line = line.format(url=listener.url)
    kubectl_directly(home, line)
    assert listener.requests and listener.requests[0].startswith(b"GET /"), "kubectl did not call the address"
    listener.requests.clear()
    out, event = console_line(home, line)
    assert event["refused"] == key, (out, event)
    assert listener.requests == []


def test_config_flags_before_the_action_no_longer_write_an_exec_plugin(home: Path) -> None:
    line = ("kubectl config --namespace view set-credentials shoal --exec-command=/bin/sh "
            "--exec-api-version=client.authentication.k8s.io/v1")
    kubeconfig = home / "kubeconfig"
    kubectl_directly(home, line)
    assert "command: /bin/sh" in kubeconfig.read_text()  # kubectl would run /bin/sh on its next call
    kubeconfig.write_text(KUBECONFIG)
    out, event = console_line(home, line)
    assert event["refused"] == "console.refused.config", (out, event)
    assert "set-credentials" in out
    assert kubeconfig.read_text() == KUBECONFIG


def test_verbose_output_masks_the_sessions_token(home: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """-v stays allowed: kubectl itself masks the bearer token even at -v=9 (the curl lines it prints)."""
    listener = Listener(tmp_path_factory.mktemp("tls"))
    try:
        (home / "kubeconfig").write_text(KUBECONFIG.replace("https://127.0.0.1:9", listener.url))
        result = kubectl_directly(home, "kubectl -v=9 get pods --request-timeout=5s")
    finally:
        listener.close()
    assert "Authorization: Bearer <masked>" in result.stderr, result.stderr[-2000:]
    assert any(b"Bearer console-token" in request for request in listener.requests)  # it was sent …
    assert "console-token" not in result.stdout + result.stderr  # … and not printed
