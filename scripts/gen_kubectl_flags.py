"""Write ``src/shoal/console/kubectl_flags.py``: the flags of the kubectl sub-commands the console allows.

Run once per kubectl upgrade (with the version pinned in ``pyproject.toml``)::

    python scripts/gen_kubectl_flags.py [path/to/kubectl] > src/shoal/console/kubectl_flags.py

The console's parser (``shoal.console.commands``) reads a line the way kubectl's
own cobra/pflag parser does, so it needs, for every sub-command, each flag's
long name, shorthand and arity. ``kubectl <path> --help`` lists the flags with
their defaults (bools print ``=true``/``=false``), but not whether a non-bool
flag has an optional value (pflag's ``NoOptDefVal``: ``--dry-run`` alone means
``--dry-run=unchanged``, and the next word is then NOT its value). So every
flag is probed: ``kubectl <path> --help --<flag>`` fails with "flag needs an
argument" exactly when the value is required.

The result is committed as data: the server never runs kubectl to build it.
``tests/security/test_console_parser_table.py`` checks it against the pinned
kubectl's help.
"""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

#: The sub-commands (roots) whose trees the table describes; everything else is refused by the console.
ROOTS = ("annotate", "api-resources", "api-versions", "apply", "attach", "auth", "autoscale", "certificate",
         "cluster-info", "completion", "config", "cordon", "create", "debug", "delete", "describe", "drain",
         "events", "exec", "explain", "expose", "get", "help", "label", "logs", "patch", "replace", "rollout",
         "run", "scale", "set", "taint", "top", "uncordon", "version", "wait")

FLAG_LINE = re.compile(r"^ {4}(?:-(?P<short>\S), )?--(?P<name>[A-Za-z0-9][\w-]*)=(?P<default>.*):$")
SUB_LINE = re.compile(r"^  (?P<name>[a-z][\w-]*)\s{2,}\S")


def run(kubectl: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([kubectl, *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/nonexistent", "HOME": "/nonexistent", "KUBECONFIG": "/dev/null"}, check=False)


def section(text: str, title: str) -> list[str]:
    """The lines of a help section (``Options:``, ``Aliases:``, ``Available Commands:``) up to the next title."""
    lines = text.splitlines()
    try:
        start = lines.index(title) + 1
    except ValueError:
        return []
    out: list[str] = []
    for line in lines[start:]:
        if line and not line[0].isspace():
            break
        out.append(line)
    return out


def parse_help(text: str, options_title: str = "Options:") -> tuple[list[str], list[str], dict[str, tuple[str, str]]]:
    """(aliases, sub-commands, {flag: (shorthand, shown default)}) of one ``--help`` text."""
    lines = text.splitlines()
    # "Aliases:" is followed by one unindented line: "configmap, cm".
    alias_line = lines[lines.index("Aliases:") + 1] if "Aliases:" in lines else ""
    aliases = [a.strip() for a in alias_line.split(",")][1:] if alias_line else []
    subs = [m["name"] for line in section(text, "Available Commands:") if (m := SUB_LINE.match(line))]
    flags: dict[str, tuple[str, str]] = {}
    for line in section(text, options_title):
        m = FLAG_LINE.match(line)
        if m:
            flags[m["name"]] = (m["short"] or "", m["default"])
    return aliases, subs, flags


def arity(kubectl: str, path: list[str], name: str, default: str) -> str:
    """``bool``, ``optional`` (a value only with ``=``) or ``value`` (the next word when no ``=``)."""
    probe = run(kubectl, *path, "--help", f"--{name}")
    if "flag needs an argument" in probe.stderr:
        return "value"
    if name == "kuberc" and "kuberc file is not found" in probe.stderr:
        return "value"  # kubectl reads --kuberc itself before cobra does, and took "" for the path
    if probe.returncode != 0:
        raise SystemExit(f"probe of {' '.join(path)} --{name} failed: {probe.stderr}")
    return "bool" if default in ("true", "false") else "optional"


def main() -> None:
    kubectl = sys.argv[1] if len(sys.argv) > 1 else str(Path(sys.executable).parent / "kubectl")
    version = run(kubectl, "version", "--client", "-o", "json").stdout
    git_version = re.search(r'"gitVersion":\s*"v([^"]+)"', version)
    assert git_version, version
    commands: dict[str, tuple[list[str], list[str], dict[str, tuple[str, str]]]] = {}
    todo = [[root] for root in ROOTS]
    while todo:
        path = todo.pop(0)
        text = run(kubectl, *path, "--help").stdout
        aliases, subs, flags = parse_help(text)
        commands[" ".join(path)] = (aliases, subs, flags)
        todo.extend([*path, sub] for sub in subs)
    _, _, global_flags = parse_help(run(kubectl, "options").stdout,
                                    "The following options can be passed to any command:")
    jobs = [([], name, default) for name, (_, default) in global_flags.items()]
    jobs += [(path.split(), name, default) for path, (_, _, flags) in commands.items()
             for name, (_, default) in flags.items()]
    with ThreadPoolExecutor(4) as pool:
        kinds = list(pool.map(lambda job: arity(kubectl, *job), jobs))
    kind_of = {(" ".join(path), name): kind for (path, name, _), kind in zip(jobs, kinds, strict=True)}

    def flag_dict(path: str, flags: dict[str, tuple[str, str]], indent: str) -> str:
        items = [f"{indent}{name!r}: Flag({short!r}, {kind_of[(path, name)]!r}),"
                 for name, (short, _) in sorted(flags.items())]
        return "\n".join(items)

    out = [
        f'"""The flags of kubectl {git_version[1]}\'s sub-commands that the console allows: data, generated.',
        "",
        "Written by ``scripts/gen_kubectl_flags.py`` from the pinned kubectl's own ``--help`` (and",
        "``kubectl options``), each flag's arity probed; checked against that kubectl by",
        "``tests/security/test_console_parser_table.py``. Do not edit by hand: regenerate after a kubectl",
        "upgrade. ``shoal.console.commands`` reads a line with it the way kubectl (cobra/pflag) does.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import NamedTuple",
        "",
        '__all__ = ["COMMANDS", "GLOBAL_FLAGS", "KUBECTL_VERSION", "Command", "Flag"]',
        "",
        f"KUBECTL_VERSION = {git_version[1]!r}",
        "",
        "",
        "class Flag(NamedTuple):",
        '    """A flag: its one-letter shorthand (or "") and arity: ``bool``, ``value`` (``--f v`` or',
        '    ``--f=v``), or ``optional`` (a value only as ``--f=v``; ``--f`` alone takes pflag\'s NoOptDefVal',
        '    and never the next word)."""',
        "",
        "    short: str",
        "    kind: str",
        "",
        "",
        "class Command(NamedTuple):",
        '    """A sub-command (key: its path, e.g. ``"create configmap"``): aliases, sub-commands, local flags."""',
        "",
        "    aliases: tuple[str, ...]",
        "    subcommands: tuple[str, ...]",
        "    flags: dict[str, Flag]",
        "",
        "",
        "#: kubectl's global flags (``kubectl options``): every command has them unless it defines its own.",
        "GLOBAL_FLAGS: dict[str, Flag] = {",
        flag_dict("", global_flags, "    "),
        "}",
        "",
        "COMMANDS: dict[str, Command] = {",
    ]
    for path, (aliases, subs, flags) in commands.items():
        out.append(f"    {path!r}: Command({tuple(aliases)!r}, {tuple(subs)!r}, {{")
        if flags:
            out.append(flag_dict(path, flags, "        "))
        out.append("    }),")
    out.append("}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
