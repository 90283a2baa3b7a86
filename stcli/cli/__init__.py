"""The ``stcli`` command line: each command parses options into one settings object,
calls one library function and renders the result. One module per command; shared
options, logging and output live in ``_common``.

Library modules that import torch or the decoders are imported inside the commands, so
that ``--help`` (and ``import stcli.cli``) stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..version import __version__
from ._common import state
from .bench import bench
from .classify import classify
from .detect import detect
from .evaluate import evaluate_app
from .export import export
from .features import features
from .localize import localize
from .merge import merge
from .train_head import train_head
from .watch import watch
from .weights import weights_app

app = typer.Typer(
    name="stcli",
    help="Video action recognition with SqueezeTime: classify videos, find actions in long "
    "videos and detect what each person does, from the shell.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Help is plain text: "pip install 'stcli[plot]'" must not lose "[plot]" as markup.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command()(classify)
app.command()(localize)
app.command()(detect)
app.command()(features)
app.command()(watch)
app.command()(merge)
app.command("train-head")(train_head)
app.command()(export)
app.command()(bench)
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(weights_app, name="weights")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    state["debug"] = debug


def main() -> None:
    """Console-script entry point."""
    app()
