"""Static shell completion scripts for ``stcli``, generated from the command tree.

One walk over the Click command tree of :data:`stcli.cli.app` (:func:`walk`) yields a
flat list of :class:`Node` records; three small emitters turn that list into bash, zsh
and fish scripts. The scripts are committed under ``completions/`` and a test checks that
they still equal :func:`generate`'s output. Regenerate them with::

    python -m stcli.completions --write completions/

Generating imports the CLI definition only, never torch.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from .cli import app

PROG = "stcli"
# Plain-text parameters that name files or folders (their types cannot say so: a path
# there may also be '-' or a glob).
_PATHS = frozenset({"paths", "calibrate"})
SHELLS = ("bash", "zsh", "fish")
_REGENERATE = "python -m stcli.completions --write completions/"
_INSTALL = {
    "bash": "source it from ~/.bashrc, or copy it to\n"
            "# ~/.local/share/bash-completion/completions/stcli (bash >= 4)",
    "zsh": "copy it as _stcli into a folder on $fpath, or source it after compinit",
    "fish": "copy it to ~/.config/fish/completions/stcli.fish",
}


@dataclass(frozen=True)
class Param:
    """An option (``flags`` set) or a positional argument (``flags`` empty)."""

    flags: tuple[str, ...]
    name: str
    help: str
    takes_value: bool
    values: tuple[str, ...] = ()  # fixed set of values, if any
    paths: str = ""  # "file", "dir" or "" (no path completion)
    variadic: bool = False


@dataclass(frozen=True)
class Node:
    """One command or group, e.g. ``("stcli", "weights", "list")``."""

    path: tuple[str, ...]
    params: tuple[Param, ...]
    children: tuple[tuple[str, str], ...]  # (subcommand, one-line help)

    @property
    def key(self) -> str:
        return " ".join(self.path)

    @property
    def options(self) -> list[Param]:
        return [p for p in self.params if p.flags]

    @property
    def arguments(self) -> list[Param]:
        return [p for p in self.params if not p.flags]


def _brief(text: str | None) -> str:
    """The first sentence of a help text, on one line, without its full stop."""
    text = " ".join((text or "").split())
    return re.split(r"\.\s+(?=[A-Z])", text)[0].rstrip(".")


def _completion(ctx: Any, param: Any) -> tuple[tuple[str, ...], str]:
    """``(values, paths)`` completing one parameter: ``paths`` is "file", "dir" or "".

    Values are what the parameter itself offers for an empty word (its ``autocompletion``:
    the choices of a ``stcli.choices`` Enum, the preset names, ...); paths come from its
    type."""
    values = tuple(item.value for item in param.shell_complete(ctx, "")
                   if getattr(item, "type", "plain") == "plain")
    if values or param.name in _PATHS:
        return values, "file" if param.name in _PATHS else ""
    desc = getattr(param, "type_descriptor", None)
    if desc is not None:  # Typer >= 0.29 vendors Click and describes types itself
        choices, is_path = desc.choices or (), desc.is_path or desc.is_file
        file_ok, dir_ok = desc.parameter_info.file_okay, desc.parameter_info.dir_okay
    else:  # Click parameter types (click.Choice, click.Path, click.File)
        kind = param.type
        choices, is_path = getattr(kind, "choices", ()), hasattr(kind, "dir_okay") or (
            kind.name == "filename")
        file_ok, dir_ok = getattr(kind, "file_okay", True), getattr(kind, "dir_okay", False)
    values = tuple(str(getattr(c, "value", c)) for c in choices)
    return values, ("dir" if dir_ok and not file_ok else "file") if is_path else ""


def walk(command: Any = None) -> list[Node]:
    """Every visible command of the tree (root first), with its options and arguments."""
    if command is None:
        command = typer.main.get_command(app)
    nodes: list[Node] = []

    def visit(cmd: Any, ctx: Any, path: tuple[str, ...]) -> None:
        params = []
        for p in cmd.get_params(ctx):  # includes -h/--help
            if getattr(p, "hidden", False):
                continue
            flags = () if p.param_type_name == "argument" else tuple(sorted(
                {*p.opts, *p.secondary_opts}, key=lambda f: (f[:2] != "--", f)))  # long first
            takes = not flags or not (p.is_flag or p.count)
            values, paths = _completion(ctx, p) if takes else ((), "")
            params.append(Param(flags, p.name, _brief(getattr(p, "help", "")), takes,
                                values, paths, p.nargs == -1))
        names = sorted(cmd.list_commands(ctx)) if hasattr(cmd, "list_commands") else []
        subs = {n: cmd.get_command(ctx, n) for n in names}
        subs = {n: c for n, c in subs.items() if c is not None and not c.hidden}
        children = tuple((n, _brief(c.short_help or c.help)) for n, c in subs.items())
        nodes.append(Node(path, tuple(params), children))
        for name, sub in subs.items():
            visit(sub, sub.context_class(sub, parent=ctx, info_name=name), (*path, name))

    root_ctx = command.context_class(command, info_name=PROG, **command.context_settings)
    visit(command, root_ctx, (PROG,))
    return nodes


# -- bash ------------------------------------------------------------------------------
_BASH_MAIN = r"""
_stcli_reply() {
    [[ $1 == -W ]] || compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen "$@" -- "$cur")
}

_stcli_complete() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local node=stcli word i arg=0
    COMPREPLY=()
    if [[ $cur == = ]]; then
        cur=''
    elif [[ $prev == = ]]; then
        prev=${COMP_WORDS[COMP_CWORD-2]}
    fi
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ $word == -* ]]; then
            if _stcli_takes_value "$node" "$word"; then
                [[ ${COMP_WORDS[i+1]} == = ]] && i=$((i + 1))
                i=$((i + 1))
            fi
        elif [[ " $(_stcli_subcommands "$node") " == *" $word "* ]]; then
            node="$node $word" arg=0
        else
            arg=$((arg + 1))
        fi
    done
    if [[ $prev == -* ]] && _stcli_takes_value "$node" "$prev"; then
        _stcli_values "$node" "$prev"
    elif [[ $cur == -* ]]; then
        _stcli_reply -W "$(_stcli_options "$node")"
    elif [[ -n $(_stcli_subcommands "$node") ]]; then
        _stcli_reply -W "$(_stcli_subcommands "$node")"
    else
        _stcli_values "$node" "#$arg"
    fi
}

complete -F _stcli_complete stcli
"""


def _bash_case(name: str, subject: str, rows: list[tuple[list[str], str]], tail: str) -> str:
    """A bash function made of one ``case`` over ``subject``."""
    lines = [f"{name}() {{", f"    case {subject} in"]
    lines += [f"        {'|'.join(labels)}) {body} ;;" for labels, body in rows if labels]
    return "\n".join([*lines, "    esac", *([f"    {tail}"] if tail else []), "}", ""])


def _bash(nodes: list[Node]) -> str:
    """Lookup tables as ``case`` functions, then the shared completion function."""
    q = shlex.quote
    subs = [([q(n.key)], f"echo {q(' '.join(c for c, _ in n.children))}")
            for n in nodes if n.children]
    opts = [([q(n.key)], f"echo {q(' '.join(f for o in n.options for f in o.flags))}")
            for n in nodes]
    takes = [[q(f"{n.key} {f}") for o in n.options if o.takes_value for f in o.flags]
             for n in nodes]
    values = []
    for n in nodes:
        for p in n.params:
            labels = [q(f"{n.key} {f}") for f in p.flags] or [
                q(f"{n.key} #") + "*" if p.variadic else q(f"{n.key} #{n.arguments.index(p)}")]
            if p.values:
                values.append((labels, f"_stcli_reply -W {q(' '.join(p.values))}"))
            elif p.paths:
                values.append((labels, f"_stcli_reply -{p.paths[0]}"))
    return "\n".join([
        _bash_case("_stcli_subcommands", "$1", subs, ""),
        _bash_case("_stcli_options", "$1", opts, ""),
        _bash_case("_stcli_takes_value", '"$1 $2"', [(sum(takes, []), "return 0")], "return 1"),
        _bash_case("_stcli_values", '"$1 $2"', values, ""),
    ]) + _BASH_MAIN


# -- zsh -------------------------------------------------------------------------------
_zq = shlex.quote


def _zsh_action(p: Param) -> str:
    """The ``_arguments`` action completing a value."""
    if p.values:
        return f"({' '.join(p.values)})"
    return {"file": "_files", "dir": "_files -/"}.get(p.paths, " ")


def _zsh_function(n: Node) -> str:
    """``_stcli_<path>``: ``_arguments`` specs, plus subcommand dispatch for a group."""
    specs = []
    for o in n.options:
        value = f":{max(o.flags, key=len).lstrip('-')}:{_zsh_action(o)}" if o.takes_value else ""
        spec = _zq("[" + re.sub(r"([\[\]])", r"\\\1", o.help) + f"]{value}")
        flags = o.flags[0] if len(o.flags) == 1 else (
            f"'({' '.join(o.flags)})'{{{','.join(o.flags)}}}")
        specs.append(flags + spec)
    for i, a in enumerate(n.arguments, start=1):
        specs.append(_zq(f"{'*' if a.variadic else i}:{a.name}:{_zsh_action(a)}"))
    func = "_" + "_".join(n.path).replace("-", "_")
    if not n.children:
        return f"{func}() {{\n    _arguments \\\n        " + " \\\n        ".join(specs) + "\n}\n"
    items = "\n".join(f"                {_zq(f'{c}:{h}')}" for c, h in n.children)
    cases = "\n".join(f"                {c}) {func}_{c.replace('-', '_')} ;;"
                      for c, _ in n.children)
    return (f"{func}() {{\n    local curcontext=$curcontext state line\n    _arguments -C \\\n"
            + "".join(f"        {s} \\\n" for s in specs)
            + "        '1:command:->command' '*::argument:->argument'\n    case $state in\n"
            f"        command)\n            local -a commands=(\n{items}\n            )\n"
            f"            _describe -t commands {_zq(n.key + ' command')} commands ;;\n"
            f"        argument)\n            case $words[1] in\n{cases}\n            esac ;;\n"
            "    esac\n}\n")


def _zsh(nodes: list[Node]) -> str:
    return "\n".join([f"#compdef {PROG}", *(_zsh_function(n) for n in nodes),
                      "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then\n"
                      '    _stcli "$@"\nelse\n    compdef _stcli stcli\nfi\n'])


# -- fish ------------------------------------------------------------------------------
_FISH_MAIN = """\
function __stcli_at --description 'True in command NODE (at positional N, or N+: N or later)'
    set -l node stcli
    set -l count 0
    set -l tokens (commandline -opc)
    set -e tokens[1]
    while set -q tokens[1]
        switch "$node/$tokens[1]"
            case @MOVES@
                set node "$node $tokens[1]"
                set count 0
            case @TAKES_VALUE@
                set -q tokens[2]; and set -e tokens[2]
            case '*/-*'
            case '*'
                set count (math $count + 1)
        end
        set -e tokens[1]
    end
    test "$node" = "$argv[1]"; or return 1
    switch "$argv[2]"
        case ''
            return 0
        case '*+'
            test $count -ge (string trim -r -c + -- $argv[2])
        case '*'
            test $count -eq $argv[2]
    end
end

complete -c stcli -f
"""


def _fq(text: str) -> str:
    """Single-quote for fish."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_line(n: Node, p: Param) -> str | None:
    """One ``complete`` line for an option or a positional argument (None: nothing to add)."""
    at = f'__stcli_at "{n.key}"'
    if p.flags:
        names = [f"-l {f[2:]}" if f[:2] == "--" else f"-{'s' if len(f) == 2 else 'o'} {f[1:]}"
                 for f in p.flags]
        value = "-x" if p.takes_value else ""
    else:
        names, value = [], ""
        at += f" {n.arguments.index(p)}{'+' if p.variadic else ''}"
    what = (f"-a {_fq(' '.join(p.values))}" if p.values else
            "-a '(__fish_complete_directories)'" if p.paths == "dir" else "")
    if p.paths == "file":
        value, what = ("-r" if p.flags else ""), "-F"
    if not (p.flags or what):
        return None
    parts = ["complete -c stcli -n", _fq(at), *names, value, what, p.help and f"-d {_fq(p.help)}"]
    return " ".join(filter(None, parts))


def _fish(nodes: list[Node]) -> str:
    """``__stcli_at`` (which command the cursor is in), then one ``complete`` per item."""
    moves = " ".join(_fq(f"{n.key}/{c}") for n in nodes for c, _ in n.children)
    takes = " ".join(_fq(f"{n.key}/{f}") for n in nodes for o in n.options if o.takes_value
                     for f in o.flags)
    lines = []
    for n in nodes:
        at = _fq(f'__stcli_at "{n.key}"')
        lines += [f"complete -c stcli -n {at} -a {_fq(c)} -d {_fq(h)}" for c, h in n.children]
        lines += filter(None, (_fish_line(n, p) for p in n.params))
    head = _FISH_MAIN.replace("@MOVES@", moves).replace("@TAKES_VALUE@", takes)
    return head + "\n".join(lines) + "\n"


_EMITTERS: dict[str, Callable[[list[Node]], str]] = {"bash": _bash, "zsh": _zsh, "fish": _fish}


def generate(shell: str, command: Any = None) -> str:
    """The completion script for ``shell`` (bash, zsh or fish); ``command`` defaults to
    the Click command of :data:`stcli.cli.app`."""
    if shell not in _EMITTERS:
        raise ValueError(f"unknown shell '{shell}': choose one of {', '.join(SHELLS)}")
    header = (f"# {shell} completion for {PROG}. Generated from the command tree by\n"
              f"# `{_REGENERATE}`; do not edit by hand.\n"
              f"# Install: {_INSTALL[shell]}.\n")
    body = _EMITTERS[shell](walk(command))
    if body.startswith("#compdef"):  # zsh needs #compdef on the first line
        first, _, rest = body.partition("\n")
        return f"{first}\n{header}\n{rest}"
    return f"{header}\n{body}"


def write_all(folder: str | Path) -> list[Path]:
    """Write ``stcli.bash``, ``stcli.zsh`` and ``stcli.fish`` into ``folder``."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    paths = {shell: Path(folder) / f"{PROG}.{shell}" for shell in SHELLS}
    for shell, path in paths.items():
        path.write_bytes(generate(shell).encode("utf-8"))  # "\n" line ends everywhere
    return list(paths.values())


def main(argv: list[str] | None = None) -> int:
    """``python -m stcli.completions SHELL`` prints a script; ``--write DIR`` writes all."""
    parser = argparse.ArgumentParser(prog="python -m stcli.completions", description=__doc__
                                     .split("\n")[0])
    parser.add_argument("shell", nargs="?", choices=SHELLS, help="print this shell's script")
    parser.add_argument("--write", metavar="FOLDER", type=Path,
                        help="write the scripts of all shells into FOLDER")
    args = parser.parse_args(argv)
    if args.write is None and args.shell is None:
        parser.error("give a shell or --write FOLDER")
    if args.write is not None:
        for path in write_all(args.write):
            print(f"wrote {path}", file=sys.stderr)
    if args.shell:
        sys.stdout.write(generate(args.shell))
    return 0


if __name__ == "__main__":
    sys.exit(main())
