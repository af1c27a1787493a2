"""Every cluster/check message key the code and templates use exists in both languages, with the same params."""

from __future__ import annotations

import re
from pathlib import Path

from shoal.clusters.check import CHECKS
from shoal.clusters.models import ClusterStatus, Environment
from shoal.core.messages import MESSAGES

SRC = Path(__file__).resolve().parents[2] / "src" / "shoal"
FILES = [*SRC.joinpath("clusters").glob("*.py"), *SRC.joinpath("kube").glob("*.py"),
         SRC / "web" / "areas" / "clusters.py", SRC / "api" / "routes" / "clusters.py",
         *SRC.joinpath("web", "templates", "clusters").glob("*.html")]
KEY = re.compile(r"""["']((?:cluster|check|hint\.check)\.[A-Za-z0-9_.-]*[A-Za-z0-9_])["']""")
DYNAMIC = (
    [f"cluster.status.{s.value}" for s in ClusterStatus] + [f"cluster.env.{e.value}" for e in Environment]
    + [f"check.name.{n}" for n in (*CHECKS, "same_cluster")] + ["cluster.role.master", "cluster.role.node"]
    + [f"check.tls.{k}" for k in ("unknown_ca", "hostname", "expired")]
    + [f"hint.check.tls_{k}" for k in ("unknown_ca", "hostname", "expired", "other")]
)


def test_every_cluster_key_exists_in_both_languages() -> None:
    audit_actions = {"cluster.import", "cluster.credential.rotate", "cluster.delete"}
    used = {k for path in FILES for k in KEY.findall(path.read_text())} - {"cluster.env.", "cluster.role."}
    used -= audit_actions - {"cluster.delete"}
    used |= set(DYNAMIC)
    assert len(used) > 100
    missing = sorted(k for k in used if k not in MESSAGES)
    assert missing == []
    for key in used:
        en, zh = MESSAGES[key]
        assert set(re.findall(r"{(\w+)}", en)) == set(re.findall(r"{(\w+)}", zh)), key
