"""Finding 7: a BK-CMDB URL must be https unless an admin allows plain http explicitly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from shoal.core.config import BusinessSettings, load_settings


def test_plain_http_cmdb_is_refused_unless_allowed() -> None:
    with pytest.raises(ValidationError) as info:
        BusinessSettings(directory="bkcmdb", cmdb_url="http://cmdb.example.com", cmdb_app_secret="s")
    assert "must use https" in str(info.value) and "SHOAL_BUSINESS__CMDB_ALLOW_HTTP=true" in str(info.value)
    for url in ("ftp://cmdb.example.com", "file:///etc/passwd", "cmdb.example.com"):
        with pytest.raises(ValidationError, match="must be an https:// URL"):
            BusinessSettings(directory="bkcmdb", cmdb_url=url)
    assert BusinessSettings(directory="bkcmdb", cmdb_url="https://cmdb.example.com").cmdb_url.startswith("https")
    allowed = BusinessSettings(directory="bkcmdb", cmdb_url="http://cmdb.internal", cmdb_allow_http=True)
    assert allowed.cmdb_url == "http://cmdb.internal"


def test_environment_is_checked_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_BUSINESS__DIRECTORY", "bkcmdb")
    monkeypatch.setenv("SHOAL_BUSINESS__CMDB_URL", "http://cmdb.example.com")
    with pytest.raises(ValidationError):
        load_settings(data_dir=tmp_path / "data", secret_key="k")
    monkeypatch.setenv("SHOAL_BUSINESS__CMDB_ALLOW_HTTP", "true")
    assert load_settings(data_dir=tmp_path / "data", secret_key="k").business.cmdb_allow_http is True


def test_server_refuses_to_start_with_a_clear_message(tmp_path: Path) -> None:
    env = {**os.environ, "SHOAL_DATA_DIR": str(tmp_path / "data"), "SHOAL_BUSINESS__DIRECTORY": "bkcmdb",
           "SHOAL_BUSINESS__CMDB_URL": "http://cmdb.example.com", "SHOAL_DATABASE_URL": ""}
    done = subprocess.run([sys.executable, "-m", "shoal", "db", "upgrade"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Shoal cannot start: the configuration is wrong." in done.stderr
    assert "SHOAL_BUSINESS: SHOAL_BUSINESS__CMDB_URL must use https" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data" / "shoal.db").exists()
