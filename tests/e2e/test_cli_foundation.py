"""The foundation's "done when", with a real server process and the real CLI.

SHOAL_ADMIN_TOKEN on an empty data dir, then project create, business add,
project enable and project show -o json; a second user who maintains nothing is
refused, applies, is approved and gets in. Finally the raw SQLite file is
searched for every secret that passed through.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ShoalProcess

ADMIN_TOKEN = "shoal_e2e-admin-token-5f1d0c9a7b"
BOB_PASSWORD = "bob-password-7781"
SEEN_SECRETS: list[str] = [ADMIN_TOKEN, BOB_PASSWORD]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShoalProcess]:
    base = tmp_path_factory.mktemp("e2e")
    proc = ShoalProcess(base / "data", {"SHOAL_ADMIN_TOKEN": ADMIN_TOKEN})
    proc.start()
    yield proc
    out = proc.stop()
    assert ADMIN_TOKEN not in out and BOB_PASSWORD not in out, "a secret reached the server log"


def shoal(server: ShoalProcess, *args: str, token: str | None = ADMIN_TOKEN, stdin: str = "",
          home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOAL_URL": server.url, "SHOAL_LANG": "en", "COLUMNS": "200"}
    env.pop("SHOAL_TOKEN", None)
    if token is not None:
        env["SHOAL_TOKEN"] = token
    if home is not None:
        env["SHOAL_CONFIG"] = str(home / "config.json")
        env.pop("SHOAL_URL")
    return subprocess.run([sys.executable, "-m", "shoal", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=60)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_admin_enables_a_project(server: ShoalProcess) -> None:
    ok(shoal(server, "project", "create", "demo", "--name", "Demo"))
    ok(shoal(server, "business", "add", "100", "Demo Biz", "--maintainer", "admin"))
    assert "enabled" in ok(shoal(server, "project", "enable", "demo", "--business", "100"))
    shown = json.loads(ok(shoal(server, "project", "show", "demo", "-o", "json")))
    assert shown["enabled"] is True
    assert (shown["business_id"], shown["business_name"]) == (100, "Demo Biz")


def test_second_user_refused_applies_and_is_approved(server: ShoalProcess, tmp_path: Path) -> None:
    ok(shoal(server, "user", "create", "bob", "--password-stdin", stdin=BOB_PASSWORD + "\n"))
    ok(shoal(server, "business", "add", "200", "Bob Biz", "--maintainer", "admin"))
    home = tmp_path / "bob"
    ok(shoal(server, "login", "--url", server.url, "--username", "bob", "--password-stdin", token=None,
             stdin=BOB_PASSWORD + "\n", home=home))
    config = home / "config.json"
    assert config.stat().st_mode & 0o777 == 0o600
    ok(shoal(server, "project", "create", "bobs", "--name", "Bob's project", token=None, home=home))
    refused = shoal(server, "project", "enable", "bobs", "--business", "200", token=None, home=home)
    assert refused.returncode == 1
    assert "do not maintain business 200" in refused.stderr and "Hint:" in refused.stderr
    ok(shoal(server, "request", "apply", "--business", "200", "--project", "bobs", "--reason", "run bobs",
             token=None, home=home))
    pending = json.loads(ok(shoal(server, "request", "list", "--status", "pending", "-o", "json")))
    assert [(r["requester"], r["business_id"]) for r in pending] == [("bob", 200)]
    ok(shoal(server, "request", "approve", str(pending[0]["id"]), "--note", "fine"))
    ok(shoal(server, "project", "enable", "bobs", "--business", "200", token=None, home=home))
    shown = json.loads(ok(shoal(server, "project", "show", "bobs", "-o", "json", token=None, home=home)))
    assert shown["business_id"] == 200 and shown["my_role"] == "manager"


def test_token_create_for_user_and_revoke(server: ShoalProcess) -> None:
    ok(shoal(server, "user", "create", "robot", "--no-password"))
    token = ok(shoal(server, "token", "create", "--user", "robot", "--expires", "30d")).strip()
    assert token.startswith("shoal_") and "\n" not in token
    SEEN_SECRETS.append(token)
    listed = json.loads(ok(shoal(server, "project", "list", "-o", "json", token=token)))
    assert listed["total"] == 0, "robot is a member of nothing"
    tokens = json.loads(ok(shoal(server, "token", "list", "--user", "robot", "-o", "json")))
    ok(shoal(server, "token", "revoke", str(tokens[0]["id"])))
    refused = shoal(server, "project", "list", token=token)
    assert refused.returncode == 1 and "revoked" in refused.stderr


def test_no_secret_in_plain_text_in_the_database(server: ShoalProcess) -> None:
    raw = (Path(server.env["SHOAL_DATA_DIR"]) / "shoal.db").read_bytes()
    wal = Path(server.env["SHOAL_DATA_DIR"]) / "shoal.db-wal"
    if wal.exists():
        raw += wal.read_bytes()
    assert b"Demo Biz" in raw, "the scan must see the data the tests wrote"
    assert len(SEEN_SECRETS) == 3, "the token test must have run first"
    for secret in SEEN_SECRETS:
        assert secret.encode() not in raw
    key_file = Path(server.env["SHOAL_DATA_DIR"]) / "secret-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
