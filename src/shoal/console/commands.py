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
other program; filter options that read or write files (each filter has an
allow-list, and none may name a file).

A kubectl line is read the way kubectl itself reads it — cobra finds the
sub-command (``rollout status``, ``create secret generic``), pflag the flags —
with the table of ``console.kubectl_flags`` (every flag of every allowed
sub-command of the pinned kubectl, with its arity). So the console and kubectl
agree on which word is a flag, a flag's value, the sub-command or an argument;
a flag the table lacks (for that sub-command), a bundle such as ``-As`` whose
meaning depends on the position, a value starting with ``-`` given as a
separate word (``-n --``), ``--`` anywhere but before a container's command
(exec, run, debug, create job/cronjob/deployment) are refused, not guessed.
Then the policy: sub-commands that use the server's files, ports or programs
(``edit``, ``cp``, ``proxy``, ``port-forward``, ``plugin``, ``kustomize``,
``diff``, ``kuberc``), ``kubectl config`` actions that write the kubeconfig,
flags that switch the server, credentials or identity or read and write
files (``--server``, ``--kubeconfig``, ``--token``, ``--as``, ``--proxy-url``,
``--from-file``, ``-f FILE``/URL, ``-k``, ``-o *-file`` …) are refused.
kubectl plugins cannot run: besides all this, kubectl's ``PATH`` is an empty
directory.

:func:`redact_line` masks secret values in a typed line before the audit stores it.
"""

from __future__ import annotations

import functools
import itertools
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from shoal.console.kubectl_flags import COMMANDS, GLOBAL_FLAGS, Flag

__all__ = ["BUILTINS", "FILTERS", "KUBECTL_ALIASES", "Builtin", "KubectlLine", "Pipeline", "Refused", "parse_line",
           "read_kubectl", "redact_line", "split_words"]

BUILTINS = ("help", "clear", "exit", "history")
KUBECTL_ALIASES = ("kubectl", "k")

#: kubectl's top-level sub-commands the console runs (the table's roots). Anything else — notably plugins — is refused.
KUBECTL_COMMANDS = frozenset(path for path in COMMANDS if " " not in path)
#: Sub-commands refused with their own reason: they use the server's files, ports or programs.
KUBECTL_REFUSED = {
    "edit": "console.refused.edit",
    "cp": "console.refused.local_files",
    "kustomize": "console.refused.local_files",
    "kuberc": "console.refused.local_files",
    "diff": "console.refused.diff",
    "proxy": "console.refused.local_network",
    "port-forward": "console.refused.local_network",
    "plugin": "console.refused.plugin",
}
#: Paths of the table refused all the same (the editor again).
PATHS_REFUSED = {"apply edit-last-applied": "console.refused.edit"}
#: ``kubectl config`` actions that only read the session's kubeconfig; every other action writes it
#: (credentials, exec plugins, servers). The kubeconfig is read-only in the sandbox as well, so even
#: ``set-context --current --namespace=…`` is refused here with a hint to pass ``-n`` instead.
CONFIG_READ = frozenset({"view", "current-context", "get-contexts", "get-clusters", "get-users"})
#: Where ``--`` may come: what follows is the command run in a container, never read by kubectl.
REMOTE_COMMAND = frozenset({"exec", "run", "debug", "create job", "create cronjob", "create deployment"})
#: Global flags refused (by their long name, whatever the spelling): they switch the server, the
#: credentials or the identity (impersonation: the gateway impersonates the user anyway), or read or
#: write the server's files (kubeconfig, kuberc, cache, profiles).
GLOBAL_FLAGS_REFUSED = frozenset({
    "as", "as-group", "as-uid", "as-user-extra", "cache-dir", "certificate-authority", "client-certificate",
    "client-key", "cluster", "context", "user", "insecure-skip-tls-verify", "kubeconfig", "kuberc", "password",
    "username", "token", "profile", "profile-output", "proxy-url", "server", "tls-server-name",
})
#: Sub-command flags refused wherever they appear: they read or write files on the server, or open an editor.
LOCAL_FLAGS_REFUSED = frozenset({
    "from-file", "from-env-file", "cert", "key", "edit", "custom", "patch-file", "output-directory",
})
#: Flags refused on one path only (``config view --raw``/``--flatten`` print the session's token).
PATH_FLAGS_REFUSED: dict[str, frozenset[str]] = {"config view": frozenset({"raw", "flatten"})}
#: Output formats allowed (``-o FORMAT`` or ``-o FORMAT=TEMPLATE``); the ``*-file`` ones read a file.
OUTPUT_FORMATS = frozenset({
    "json", "yaml", "kyaml", "name", "wide", "go-template", "template", "jsonpath", "jsonpath-as-json",
    "custom-columns", "plaintext", "plaintext-openapiv2",
})
#: pflag's bool spellings (strconv.ParseBool).
_BOOLS = frozenset({"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"})
#: cobra gives every command -h/--help.
_HELP = Flag("h", "bool")


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
#
# kubectl finds its sub-command with cobra, then parses the flags with pflag. A line is read here
# the same way, with the table of ``kubectl_flags`` (every flag's arity), so that the console and
# kubectl never disagree about which word is a flag, a flag's value, the sub-command or an
# argument; whatever the table does not know is refused rather than guessed.

@dataclass(frozen=True)
class KubectlFlag:
    """One flag as kubectl will read it: its long name, value, how it was typed, global or the sub-command's."""

    name: str
    value: str
    typed: str
    is_global: bool


@dataclass(frozen=True)
class KubectlLine:
    """A kubectl line as kubectl reads it: the sub-command path ("" for none), flags, arguments, remote command."""

    path: str
    flags: list[KubectlFlag]
    args: list[str]
    remote: list[str] | None  # after "--": the command run in the container


@functools.cache
def _flagset(path: str) -> dict[str, tuple[Flag, bool]]:
    """The flags of ``path`` (its own over the globals, as cobra merges them): name -> (flag, is global)."""
    merged = {name: (flag, True) for name, flag in GLOBAL_FLAGS.items()}
    merged["help"] = (_HELP, False)
    if path:
        merged.update({name: (flag, False) for name, flag in COMMANDS[path].flags.items()})
    return merged


@functools.cache
def _shorthands(path: str) -> dict[str, str]:
    return {flag.short: name for name, (flag, _) in _flagset(path).items() if flag.short}


def _subcommands(path: str) -> dict[str, str]:
    """The sub-commands of ``path`` by name and alias -> their path (the root's: the allowed roots)."""
    if not path:
        return {name: name for name in KUBECTL_COMMANDS}
    found: dict[str, str] = {}
    for sub in COMMANDS[path].subcommands:
        child = f"{path} {sub}"
        if child in COMMANDS:
            for name in (sub, *COMMANDS[child].aliases):
                found[name] = child
    return found


def _shown(path: str) -> str:
    return f"kubectl {path}".strip()


def _long_name(word: str) -> str:
    """A long flag's name as kubectl looks it up (kubectl's normaliser turns ``_`` into ``-``)."""
    return word[2:].split("=", 1)[0].replace("_", "-")


def _unknown(path: str, typed: str) -> Refused:
    """The refusal of a flag ``path`` does not have: where one of its sub-commands has it (``kubectl -A
    get pods``), the user only put it too early — say so, rather than call a real flag unknown."""
    below = [other for other in COMMANDS if not path or other.startswith(path + " ")]
    if typed.startswith("--"):
        name = _long_name(typed)
        misplaced = any(name in COMMANDS[other].flags for other in below)
    else:
        misplaced = any(typed[1:] in _shorthands(other) for other in below)
    if misplaced:
        return Refused("console.refused.flag_too_early", flag=typed, command=_shown(path))
    return Refused("console.refused.unknown_flag", flag=typed, command=_shown(path))


def _known(path: str, name: str, typed: str) -> Flag:
    found = _flagset(path).get(name)
    if found is None:
        raise _unknown(path, typed)
    return found[0]


def _cobra_next(path: str, args: list[str]) -> int | None:
    """The index of the word cobra takes as the next sub-command of ``path`` in ``args`` (its ``stripFlags``).

    cobra skips a flag's value only for ``--flag`` and two-letter ``-f`` written without ``=`` and
    without an optional value, and looks the flag up in ``path``'s own flags: an unknown flag, or a
    bundle such as ``-As`` whose last letter would take the next word, would make cobra and pflag
    disagree, so they are refused here (write the flag after the sub-command, or ``-f=VALUE``).
    """
    shorts = _shorthands(path)
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if word == "--":
            return None
        if word.startswith("--"):
            flag = _known(path, _long_name(word), word.split("=", 1)[0])
            if "=" not in word and flag.kind == "value":
                if len(args) - i <= 1:
                    return None  # cobra stops looking when the value is the last or next-to-last word
                i += 1
            continue
        if word.startswith("-") and len(word) > 1:
            letters = word[1:]
            for position, letter in enumerate(letters):
                name = shorts.get(letter)
                if name is None:
                    raise _unknown(path, f"-{letter}")
                flag = _flagset(path)[name][0]
                if letters[position + 1:position + 2] == "=" or (flag.kind == "value" and position < len(letters) - 1):
                    break  # the rest of the word is the value
                if flag.kind == "value":  # the last letter takes the next word
                    if len(word) > 2:
                        # cobra does not skip a bundle's value: it looks that word up as the sub-command.
                        # Not one: cobra stops at this command, as pflag reads it. One (or at the root):
                        # the two disagree, so refuse rather than guess.
                        following = args[i] if i < len(args) else ""
                        if not path or following in _subcommands(path):
                            raise Refused("console.refused.flag_position", flag=word, command=_shown(path))
                        return None
                    if len(args) - i <= 1:
                        return None
                    i += 1
            continue
        if word in ("", "-"):
            raise Refused("console.refused.argument", word=word or "''")
        return i - 1
    return None


def _find_path(args: list[str]) -> tuple[str, list[str], str | None]:
    """(sub-command path, the args without its words, a word cobra would look up but the table lacks)."""
    path = ""
    rest = list(args)
    while True:
        subs = _subcommands(path)
        if path and not subs:
            return path, rest, None
        at = _cobra_next(path, rest)
        if at is None:
            return path, rest, None
        child = subs.get(rest[at])
        if child is None:
            return path, rest, rest[at]
        path = child
        rest = rest[:at] + rest[at + 1:]


def _value_word(typed: str, args: list[str], i: int) -> str:
    """A flag's value given as the next word; refused when missing or when it looks like a flag itself."""
    if i >= len(args):
        raise Refused("console.refused.flag_value", flag=typed)
    value = args[i]
    if value.startswith("-") and value != "-":
        # pflag would take it (``-n --`` ended the checks of old); make the user write --flag=VALUE.
        raise Refused("console.refused.dash_value", flag=typed, value=value)
    return value


def _checked(flag: Flag, typed: str, value: str) -> str:
    if flag.kind == "bool" and value not in _BOOLS:
        raise Refused("console.refused.bool_value", flag=typed)
    return value


def _pflag(path: str, args: list[str]) -> KubectlLine:
    """Read ``args`` with ``path``'s flags as pflag does (interspersed flags, ``--f=v``, ``--f v``, ``-abc``)."""
    flagset = _flagset(path)
    shorts = _shorthands(path)
    flags: list[KubectlFlag] = []
    positional: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if len(word) <= 1 or word[0] != "-":
            positional.append(word)
            continue
        if word == "--":
            return KubectlLine(path, flags, positional, args[i:])
        if word.startswith("--"):
            body = word[2:]
            if body[:1] in ("-", "="):
                raise Refused("console.refused.flag_syntax", flag=word)
            typed, eq, value = word.partition("=")
            name = _long_name(word)
            flag = _known(path, name, typed)
            if not eq:
                if flag.kind == "value":
                    value = _value_word(typed, args, i)
                    i += 1
                else:
                    value = "true" if flag.kind == "bool" else ""
            flags.append(KubectlFlag(name, _checked(flag, typed, value), typed, flagset[name][1]))
            continue
        letters = word[1:]
        if letters.startswith("test."):
            raise Refused("console.refused.flag_syntax", flag=word)  # pflag ignores -test.* silently
        while letters:
            letter = letters[0]
            name = shorts.get(letter, "")
            if not name:
                raise _unknown(path, f"-{letter}")
            flag, is_global = flagset[name]
            typed = f"-{letter}"
            if len(letters) > 2 and letters[1] == "=":
                value, letters = letters[2:], ""
            elif flag.kind != "value":
                value, letters = ("true" if flag.kind == "bool" else ""), letters[1:]
            elif len(letters) > 1:
                value, letters = letters[1:], ""
            else:
                value, letters = _value_word(typed, args, i), ""
                i += 1
            flags.append(KubectlFlag(name, _checked(flag, typed, value), typed, is_global))
    return KubectlLine(path, flags, positional, None)


def read_kubectl(args: list[str]) -> KubectlLine:
    """What kubectl would run for ``args`` (cobra's sub-command, pflag's flags); Refused where the table cannot tell."""
    path, rest, unknown = _find_path(args)
    if unknown is not None:
        if not path:
            raise Refused(KUBECTL_REFUSED.get(unknown, "console.refused.kubectl_command"), command=unknown)
        if path == "config":
            raise Refused("console.refused.config", command=unknown)
        raise Refused("console.refused.kubectl_command", command=f"{path} {unknown}")
    if path in PATHS_REFUSED:
        raise Refused(PATHS_REFUSED[path], command=path)
    if path.startswith("config ") and path.split(" ", 1)[1] not in CONFIG_READ:
        raise Refused("console.refused.config", command=path.split(" ", 1)[1])
    return _pflag(path, rest)


def _check_flag(line: KubectlLine, flag: KubectlFlag) -> None:
    refused = GLOBAL_FLAGS_REFUSED if flag.is_global else LOCAL_FLAGS_REFUSED
    if flag.name in refused or flag.name in PATH_FLAGS_REFUSED.get(line.path, ()):
        raise Refused("console.refused.flag", flag=flag.typed)
    # -f/--filename only as "-" (stdin: the manifest pasted into the terminal); -k/--kustomize never.
    if not flag.is_global and (flag.name == "kustomize" or (flag.name == "filename" and flag.value != "-")):
        raise Refused("console.refused.filename", flag=flag.typed)
    if flag.name == "output" and not flag.is_global:
        output_format = flag.value.split("=", 1)[0]
        if output_format.lower().endswith("file"):  # jsonpath-file, go-template-file, custom-columns-file, templatefile
            raise Refused("console.refused.output_file", format=output_format)
        if output_format not in OUTPUT_FORMATS:
            raise Refused("console.refused.output_format", format=output_format,
                          allowed=", ".join(sorted(OUTPUT_FORMATS)))


def check_kubectl(args: list[str]) -> KubectlLine:
    """Refuse kubectl arguments that would escape the console (files, credentials, servers, editors, plugins)."""
    try:
        line = read_kubectl(args)
    except Refused as refused:
        # "-f" without its file is still a file flag: say so rather than "needs a value".
        if refused.key == "console.refused.flag_value" and refused.params.get("flag") in ("-f", "--filename"):
            raise Refused("console.refused.filename", flag=refused.params["flag"]) from None
        raise
    cmd = COMMANDS.get(line.path)
    if line.path and cmd is not None and cmd.subcommands and line.args:
        # cobra runs the parent with arguments; kubectl would look for a plugin (kubectl-create-foo).
        raise Refused("console.refused.kubectl_command", command=f"{line.path} {line.args[0]}")
    if not line.path and line.args:
        raise Refused("console.refused.kubectl_command", command=line.args[0])
    for arg in line.args:
        if arg in ("", "-"):
            raise Refused("console.refused.argument", word=arg or "''")
    if line.remote is not None and line.path not in REMOTE_COMMAND:
        raise Refused("console.refused.double_dash", command=_shown(line.path))
    for flag in line.flags:
        _check_flag(line, flag)
    return line


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
    if "\x00" in line:  # no program takes it in an argument (and Popen would fail on it)
        raise Refused("console.refused.argument", word="NUL")
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


# --- the audit ---------------------------------------------------------------------------------

#: Flags whose whole value is a secret (``--token``, ``--password`` … are refused, but the line is still audited).
SECRET_FLAGS = frozenset({"token", "password", "username", "docker-password", "client-key"})
#: Flags whose value is ``KEY=VALUE``: ``--from-literal`` always hides the value, the environment flags when
#: the key looks like a secret's.
_KEY_VALUE_FLAGS = {"from-literal": "literal", "env": "env", "e": "env"}
_SECRET_KEY = re.compile(r"(?i)pass|secret|token|key|pwd|credential|auth|cert")
MASK = "***"
_PLAIN_WORD = re.compile(r"[\w@%+=:,./*-]+")


def _word_spans(line: str) -> list[tuple[str, int, int]]:
    """Words of ``line`` with where each starts and ends; never refuses (unclosed quotes run to the end)."""
    spans: list[tuple[str, int, int]] = []
    word: list[str] = []
    start = -1
    i, n = 0, len(line)

    def end_word(at: int) -> None:
        nonlocal start
        if start >= 0:
            spans.append(("".join(word), start, at))
            word.clear()
            start = -1

    while i < n:
        ch = line[i]
        if ch in " \t\r\n|;&<>()":
            end_word(i)
            i += 1
            continue
        if start < 0:
            start = i
        if ch == "\\":
            word.append(line[i + 1:i + 2])
            i += 2
        elif ch in "'\"":
            close = line.find(ch, i + 1)
            close = n if close < 0 else close
            word.append(line[i + 1:close])
            i = close + 1
        else:
            word.append(ch)
            i += 1
    end_word(n)
    return spans


def _masked(kind: str, value: str) -> str:
    if kind == "secret":
        return MASK
    key, eq, _ = value.partition("=")
    if not eq:
        return MASK if kind == "literal" else value
    return f"{key}={MASK}" if kind == "literal" or _SECRET_KEY.search(key) else value


def _secret_kind(word: str) -> tuple[str, str, str | None] | None:
    """(kind, the word's flag part, its inline value or None) when ``word`` is a flag with a secret value."""
    if word.startswith("--"):
        name, eq, value = word[2:].partition("=")
        name = name.replace("_", "-")
        kind = "secret" if name in SECRET_FLAGS else _KEY_VALUE_FLAGS.get(name)
        if kind is None or name == "e":
            return None
        return kind, word[:len(word) - len(value) - len(eq)] + eq, value if eq else None
    if word.startswith("-e") and not word.startswith("-e-"):
        rest = word[2:]
        return "env", "-e" + ("=" if rest.startswith("=") else ""), rest.removeprefix("=") or None
    return None


def redact_line(line: str) -> str:
    """``line`` with secret values replaced by ``***`` before it is stored in the audit log.

    ``--from-literal=k=v`` keeps the key (``k=***``); ``--token``, ``--password``, ``--username``,
    ``--docker-password`` and ``--client-key`` lose their value; ``--env``/``-e`` and ``kubectl set env``
    lose values whose key looks like a secret's (password, token, key …). Works on any line, also one
    the console refused or could not split, since every typed line is audited.
    """
    spans = _word_spans(line)
    words = [word for word, _, _ in spans]
    set_env = any(pair == ("set", "env") for pair in itertools.pairwise(words))
    replaced: dict[int, str] = {}
    pending: str | None = None
    for index, word in enumerate(words):
        if pending is not None:
            masked = _masked(pending, word)
            if masked != word:
                replaced[index] = masked
            pending = None
            continue
        found = _secret_kind(word)
        if found is not None:
            kind, flag, value = found
            if value is None:
                pending = kind
            elif (masked := _masked(kind, value)) != value:
                replaced[index] = flag + masked
        elif set_env and not word.startswith("-") and "=" in word and (masked := _masked("env", word)) != word:
            replaced[index] = masked
    if not replaced:
        return line
    out: list[str] = []
    last = 0
    for index, new in sorted(replaced.items()):
        _, start, end = spans[index]
        out.append(line[last:start])
        out.append(new if _PLAIN_WORD.fullmatch(new) else shlex.quote(new))
        last = end
    out.append(line[last:])
    return "".join(out)
