"""Issue 13, finding 7 (CLI part): every kubeconfig file argument of the real CLI is read as bytes and
refused with a clear message — binary, UTF-16, control characters, not YAML, alias bombs, too large,
a directory — never a Python traceback. Runs ``python -m shoal`` against the API served on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.security.test_kube_kubeconfig import GOOD

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


@pytest.fixture
def db_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only: the CLI refuses the files before the database is involved."""
    path = tmp_path / "shoal.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


def cli(url: str, *args: str, stdin: bytes = b"", lang: str = "en") -> tuple[int, str]:
    env = {**os.environ, "SHOAL_URL": url, "SHOAL_TOKEN": ADMIN_TOKEN, "SHOAL_LANG": lang, "COLUMNS": "400"}
    run = subprocess.run([sys.executable, "-m", "shoal", *args], input=stdin, capture_output=True, env=env,
                         timeout=60, check=False)
    text = (run.stdout + run.stderr).decode("utf-8", errors="replace")
    assert "Traceback" not in text, text
    return run.returncode, " ".join(text.split())


def _file(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


COMMANDS = [("cluster", "check", "--kubeconfig"), ("cluster", "import", "-p", "alpha", "--name", "x", "--kubeconfig"),
            ("cluster", "credential", "BCS-K8S-40000", "--kubeconfig")]


@pytest.mark.parametrize("command", COMMANDS, ids=["check", "import", "credential"])
def test_a_binary_file_is_named_not_a_traceback(api_server: str, tmp_path: Path, command: tuple[str, ...]) -> None:
    code, text = cli(api_server, *command, _file(tmp_path, "logo.png", PNG))
    assert code == 1
    assert "logo.png is not UTF-8 text (first bad byte at offset 0): a kubeconfig is a YAML text file." in text
    assert "kubectl config view --minify --flatten --raw" in text


@pytest.mark.parametrize(("data", "says"), [
    pytest.param("current-context: x\n".encode("utf-16"), "is UTF-16 text; Shoal reads UTF-8.", id="utf16"),
    pytest.param(b"current-context: x\x00\x01\n", "character #x0000 is not allowed in YAML text (line 1, column 19)",
                 id="nul"),
    pytest.param(b"clusters: [\n", "is not a kubeconfig: The kubeconfig is not valid YAML", id="not-yaml"),
    # a small alias: the full bomb is posted only in a capped subprocess (test_kube_kubeconfig), since an
    # old CLI would send it on to the test's own server
    pytest.param(b"x: &x [a, b]\ny: *x\n", "uses a YAML anchor or alias (&name / *name) at line 1, column 4",
                 id="alias"),
    pytest.param(GOOD.encode() + b"#" + b"x" * 300_000, "is larger than 256 KiB: it is not a kubeconfig", id="large"),
])
def test_bad_files_get_their_own_message(api_server: str, tmp_path: Path, data: bytes, says: str) -> None:
    code, text = cli(api_server, "cluster", "check", "--kubeconfig", _file(tmp_path, "k.yaml", data))
    assert code == 1 and says in text, text


def test_standard_input_and_directories_and_chinese(api_server: str, tmp_path: Path) -> None:
    code, text = cli(api_server, "cluster", "check", "--kubeconfig", "-", stdin=PNG)
    assert code == 1 and "standard input is not UTF-8 text" in text, text
    code, text = cli(api_server, "cluster", "check", "--kubeconfig", str(tmp_path))
    assert code == 1 and f"Cannot read {tmp_path}: Is a directory." in text, text
    code, text = cli(api_server, "cluster", "check", "--kubeconfig", _file(tmp_path, "logo.png", PNG), lang="zh-CN")
    assert code == 1 and "不是 UTF-8 文本（第一个无效字节位于偏移 0）" in text, text


def test_a_good_file_still_reaches_the_server(api_server: str, tmp_path: Path) -> None:
    doc = GOOD.replace("https://10.0.0.1:6443", "https://169.254.169.254")
    code, text = cli(api_server, "cluster", "check", "--kubeconfig", _file(tmp_path, "k.yaml", doc.encode()))
    assert code == 1 and "it is a cloud metadata address" in text, text
