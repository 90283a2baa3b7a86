"""``stcli merge``: the parts of a sharded run (``--shard I/N``) joined into one output."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import reports
from ..batch import merge as merge_parts
from ..batch import writable_folder
from ..errors import OutputError
from ..fileio import write_atomic
from ._common import QuietOption, domain_errors, log


def merge(
    parts: Annotated[list[Path], typer.Argument(
        help="Every part of the run: the part files (PART.csv, .json, .jsonl: their "
        "PART.shard.json sidecars are read), the sidecars, or a features folder.",
        show_default=False)],
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="The merged file (.csv, .json or .jsonl): what one process "
        "running every shard would have written.", show_default=False)],
    quiet: QuietOption = False,
) -> None:
    """Merge the parts of a sharded run; refuses parts of other settings or runs, and
    names a missing, repeated or unfinished shard."""
    with domain_errors(quiet):
        fmt = reports.format_from_path(out)
        writable_folder("--out", out.parent)
        merged = merge_parts(parts)
        text = merged.layout.render(merged.records, fmt.value, merged.meta)
        try:
            write_atomic(out, text)
        except OSError as exc:
            raise OutputError(f"--out: cannot write {exc.filename or out} "
                              f"({exc.strerror or exc})") from None
        failed = sum(rec["status"] != "ok" for rec in merged.records)
        log.info("%d shards merged: %d videos, %d failed", merged.count,
                 len(merged.records), failed)
