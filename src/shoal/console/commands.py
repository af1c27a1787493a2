"""The restricted shell's grammar: one typed line -> a built-in, or a kubectl pipeline, or a refusal.

Who calls it: ``console.shell`` (the program in the console's PTY) for every
line, and the unit tests. There is no system shell behind the console: a line
is split like a POSIX shell splits words (quotes, backslashes), and then only
these forms are accepted:

* a built-in: ``help``, ``clear``, ``exit``, ``history``;
* ``kubectl …`` (alias ``k``), optionally piped into text filters —
  ``grep``, ``head``, ``tail``, ``wc``, ``sort``, ``uniq``, ``cut`` — run as a
  pipeline of processes, never through a shell.

Refused with a :class:`Refused` naming why (a message key of ``core.messages``):
chaining (``;``, ``&&``, ``||``, ``&``), redirection (``>``, ``<``), command
and variable substitution (``$(…)``, backticks, ``$VAR``), subshells, any
other program; kubectl sub-commands and flags that touch the server's own
files, network or programs (``edit``, ``cp``, ``proxy``, ``port-forward``,
``plugin``, ``--kubeconfig``, ``-f <file>``, ``--from-file`` …); filter
options that read or write files (each filter has an allow-list, and none may
name a file). kubectl plugins cannot run: besides the allow-list of
sub-commands, kubectl's ``PATH`` is an empty directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["BUILTINS", "FILTERS", "KUBECTL_ALIASES", "Builtin", "Pipeline", "Refused", "parse_line", "split_words"]

BUILTINS = ("help", "clear", "exit", "history")
KUBECTL_ALIASES = ("kubectl", "k")

#: kubectl sub-commands the console runs. Anything else — notably plugins — is refused.
KUBECTL_COMMANDS = frozenset({
    "annotate", "api-resources", "api-versions", "apply", "attach", "auth", "autoscale", "certificate",
    "cluster-info", "completion", "config", "cordon", "create", "debug", "delete", "describe", "drain", "events",
    "exec", "explain", "expose", "get", "help", "label", "logs", "patch", "replace", "rollout", "run", "scale",
    "set", "taint", "top", "uncordon", "version", "wait",
})
#: Sub-commands refused with their own reason: they use the server's files, ports or programs.
KUBECTL_REFUSED = {
    "edit": "console.refused.edit",
    "cp": "console.refused.local_files",
    "kustomize": "console.refused.local_files",
    "diff": "console.refused.diff",
    "proxy": "console.refused.local_network",
    "port-forward": "console.refused.local_network",
    "plugin": "console.refused.plugin",
}
#: ``kubectl config`` sub-commands that only read the session's kubeconfig (set-context only with --current).
CONFIG_READ = frozenset({"view", "current-context", "get-contexts", "get-clusters", "get-users", "set-context"})
#: Flags refused anywhere on a kubectl line (they switch credentials, or read or write the server's files).
KUBECTL_FLAGS_REFUSED = frozenset({
    "--kubeconfig", "--server", "-s", "--token", "--username", "--password", "--certificate-authority",
    "--client-certificate", "--client-key", "--insecure-skip-tls-verify", "--tls-server-name", "--cache-dir",
    "--log-file", "--log-dir", "--profile-output", "--from-file", "--from-env-file", "--edit", "--cert", "--key",
    "--custom", "--kuberc", "--output-directory", "--patch-file",
})
#: Global kubectl flags that take a value as the next word (to find the sub-command after them).
_KUBECTL_VALUE_FLAGS = frozenset({"-n", "--namespace", "--as", "--as-group", "--as-uid", "--request-timeout",
                                  "-v", "--v", "--profile", "--vmodule"})


class Refused(Exception):
    """A line the console will not run; ``key`` is the message key, ``params`` fill it in."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Builtin:
    name: str


@dataclass(frozen=True)
class Pipeline:
    """``kubectl`` arguments (without the program) and the filters that follow, each ``[name, *args]``."""

    kubectl: list[str]
    filters: list[list[str]] = field(default_factory=list)


# --- splitting ---------------------------------------------------------------------------------

_PIPE = object()  # a word-list marker for an unquoted "|"


def _operator(line: str, i: int) -> tuple[str, str]:
    """The refusal (key, shown operator) for an unquoted shell operator at ``line[i]``."""
    two = line[i:i + 2]
    if two in ("&&", "||", "|&"):
        return "console.refused.chaining", two
    ch = line[i]
    if ch in ";&":
        return "console.refused.chaining", ch
    if ch in "<>":
        return "console.refused.redirection", two if two in (">>", "<<", ">&", "<&", "<>", ">|") else ch
    return "console.refused.subshell", ch


def split_words(line: str) -> list[str | object]:
    """Shell-like words of ``line`` with unquoted ``|`` as a marker; refuses every other shell syntax."""
    words: list[str | object] = []
    word: list[str] = []
    in_word = False
    i, n = 0, len(line)

    def end_word() -> None:
        nonlocal in_word
        if in_word:
            words.append("".join(word))
            word.clear()
            in_word = False

    def check_dollar(j: int) -> None:
        nxt = line[j + 1:j + 2]
        if nxt == "(":
            raise Refused("console.refused.substitution", text=line[j:j + 2])
        if nxt == "{" or nxt.isalnum() or nxt in ("_", "?", "$", "!", "#", "@", "*", "-"):
            raise Refused("console.refused.variable", text=line[j:j + 2])

    while i < n:
        ch = line[i]
        if ch in " \t\r\n":
            end_word()
        elif ch == "#" and not in_word:
            break  # a comment, as in a shell
        elif ch == "\\":
            if i + 1 < n:
                word.append(line[i + 1])
                i += 1
            in_word = True
        elif ch == "'":
            close = line.find("'", i + 1)
            if close < 0:
                raise Refused("console.refused.quote")
            word.append(line[i + 1:close])
            in_word = True
            i = close
        elif ch == '"':
            i += 1
            while i < n and line[i] != '"':
                c = line[i]
                if c == "\\" and i + 1 < n and line[i + 1] in '"\\$`':
                    word.append(line[i + 1])
                    i += 2
                    continue
                if c == "`":
                    raise Refused("console.refused.substitution", text="`")
                if c == "$":
                    check_dollar(i)
                word.append(c)
                i += 1
            if i >= n:
                raise Refused("console.refused.quote")
            in_word = True
        elif ch == "`":
            raise Refused("console.refused.substitution", text="`")
        elif ch == "$":
            check_dollar(i)
            word.append(ch)
            in_word = True
        elif ch == "|" and line[i + 1:i + 2] not in ("|", "&"):
            end_word()
            words.append(_PIPE)
        elif ch in ";&<>()|":
            key, op = _operator(line, i)
            raise Refused(key, text=op)
        else:
            word.append(ch)
            in_word = True
        i += 1
    end_word()
    return words


# --- kubectl -----------------------------------------------------------------------------------

def _flag_name(arg: str) -> str:
    return arg.split("=", 1)[0] if arg.startswith("--") else arg[:2]


def _subcommand(args: list[str]) -> tuple[str, int]:
    """The first non-flag word (the sub-command) and its index, skipping global flags' values."""
    skip = False
    for index, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg.startswith("-"):
            skip = arg in _KUBECTL_VALUE_FLAGS
            continue
        return arg, index
    return "", -1


def _check_filename(flag: str, value: str | None) -> None:
    if value != "-":
        raise Refused("console.refused.filename", flag=flag)


def check_kubectl(args: list[str]) -> None:
    """Refuse kubectl arguments that would escape the console (files, credentials, editors, plugins)."""
    for arg in args:
        if arg == "--":
            break
        if arg.startswith("-") and _flag_name(arg) in KUBECTL_FLAGS_REFUSED:
            raise Refused("console.refused.flag", flag=_flag_name(arg))
    sub, at = _subcommand(args)
    if sub in KUBECTL_REFUSED:
        raise Refused(KUBECTL_REFUSED[sub], command=sub)
    if sub and sub not in KUBECTL_COMMANDS:
        raise Refused("console.refused.kubectl_command", command=sub)
    if sub == "config":
        rest = [a for a in args[at + 1:] if not a.startswith("-")]
        action = rest[0] if rest else ""
        if action and action not in CONFIG_READ:
            raise Refused("console.refused.config", command=action)
        if action == "set-context" and "--current" not in args:
            raise Refused("console.refused.config", command="set-context")
        if any(_flag_name(a) == "--raw" for a in args):  # the session's token in clear
            raise Refused("console.refused.flag", flag="--raw")
    follow_is_f = sub in ("logs", "attach")
    for index, arg in enumerate(args):
        if not arg.startswith("-") or arg == "-":
            continue
        if arg == "--":
            break  # what follows is the remote command of exec / run / debug
        name = _flag_name(arg)
        nxt = args[index + 1] if index + 1 < len(args) else None
        if name in ("--filename", "--kustomize"):
            _check_filename(name, arg.split("=", 1)[1] if "=" in arg else nxt)
        elif name == "-k" or (name == "-f" and not follow_is_f):
            value = arg[2:].lstrip("=") if len(arg) > 2 else nxt
            _check_filename(name, value)
        elif name in ("-o", "--output"):
            if name == "-o":
                value = arg[2:].removeprefix("=") if len(arg) > 2 else nxt
            else:
                value = arg.split("=", 1)[1] if "=" in arg else nxt
            output_format = (value or "").split("=", 1)[0]
            if output_format.endswith("file"):  # jsonpath-file, go-template-file, custom-columns-file, templatefile
                raise Refused("console.refused.output_file", format=output_format)


# --- filters -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class FilterSpec:
    """What a filter accepts: flags alone, flags with a value, and how many plain words (never files)."""

    short: str = ""
    short_value: str = ""
    long: frozenset[str] = frozenset()
    long_value: frozenset[str] = frozenset()
    numeric: bool = False  # head -5, tail -20
    words: int = 0  # grep's pattern


FILTERS: dict[str, FilterSpec] = {
    "grep": FilterSpec(short="ivcnwxEFoHhsa", short_value="emABC",
                       long=frozenset({"--ignore-case", "--invert-match", "--count", "--line-number", "--word-regexp",
                                       "--line-regexp", "--extended-regexp", "--fixed-strings", "--only-matching",
                                       "--color", "--colour", "--no-messages", "--text"}),
                       long_value=frozenset({"--regexp", "--max-count", "--after-context", "--before-context",
                                             "--context", "--color", "--colour"}), words=1),
    "head": FilterSpec(short_value="nc", long_value=frozenset({"--lines", "--bytes"}), numeric=True),
    "tail": FilterSpec(short_value="nc", long_value=frozenset({"--lines", "--bytes"}), numeric=True),
    "wc": FilterSpec(short="lwcmL", long=frozenset({"--lines", "--words", "--bytes", "--chars",
                                                    "--max-line-length"})),
    "sort": FilterSpec(short="rnufbhVsM", short_value="kt",
                       long=frozenset({"--reverse", "--numeric-sort", "--unique", "--ignore-case",
                                       "--human-numeric-sort", "--version-sort", "--stable"}),
                       long_value=frozenset({"--key", "--field-separator"})),
    "uniq": FilterSpec(short="cdui", short_value="fsw",
                       long=frozenset({"--count", "--repeated", "--unique", "--ignore-case"}),
                       long_value=frozenset({"--skip-fields", "--skip-chars", "--check-chars"})),
    "cut": FilterSpec(short="sz", short_value="dfcb",
                      long=frozenset({"--only-delimited", "--complement"}),
                      long_value=frozenset({"--delimiter", "--fields", "--characters", "--bytes",
                                            "--output-delimiter"})),
}


def check_filter(argv: list[str]) -> None:
    """Refuse a filter that is not on the list, or an option or word that is not allowed (files above all)."""
    name, args = argv[0], argv[1:]
    spec = FILTERS.get(name)
    if spec is None:
        raise Refused("console.refused.filter", command=name, allowed=", ".join(FILTERS))
    words = 0
    has_pattern_flag = False
    index = 0
    only_words = False
    while index < len(args):
        arg = args[index]
        index += 1
        if only_words or not arg.startswith("-") or arg == "-":
            words += 1
            continue
        if arg == "--":
            only_words = True
            continue
        if arg.startswith("--"):
            flag, eq, _ = arg.partition("=")
            if flag in spec.long_value and (eq or flag not in spec.long):
                if not eq:
                    index += 1
                has_pattern_flag |= flag == "--regexp"
            elif flag not in spec.long or eq:
                raise Refused("console.refused.filter_option", command=name, option=flag)
            continue
        if spec.numeric and arg[1:].isdigit():
            continue
        for position, letter in enumerate(arg[1:], start=1):
            if letter in spec.short_value:
                if position == len(arg) - 1:
                    index += 1  # the value is the next word
                has_pattern_flag |= letter == "e"
                break
            if letter not in spec.short:
                raise Refused("console.refused.filter_option", command=name, option=f"-{letter}")
    allowed = 0 if has_pattern_flag else spec.words
    if words > allowed:
        raise Refused("console.refused.filter_file", command=name)
    if index > len(args):
        raise Refused("console.refused.filter_option", command=name, option=args[-1])


# --- the line ----------------------------------------------------------------------------------

def parse_line(line: str) -> Builtin | Pipeline | None:
    """What ``line`` asks for (None for an empty line or a comment); :class:`Refused` if not allowed."""
    words = split_words(line)
    if not words:
        return None
    segments: list[list[str]] = [[]]
    for word in words:
        if word is _PIPE:
            segments.append([])
        else:
            assert isinstance(word, str)
            segments[-1].append(word)
    if any(not segment for segment in segments):
        raise Refused("console.refused.empty_pipe")
    head = segments[0]
    program = head[0]
    if program in BUILTINS:
        if len(segments) > 1:
            raise Refused("console.refused.builtin_pipe", command=program)
        return Builtin(program)
    if program not in KUBECTL_ALIASES:
        raise Refused("console.refused.command", command=program)
    check_kubectl(head[1:])
    for segment in segments[1:]:
        check_filter(segment)
    return Pipeline(kubectl=head[1:], filters=segments[1:])
