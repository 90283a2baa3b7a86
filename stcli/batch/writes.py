"""A batch run's writes that must never lose finished work: each video's report, the
``--out`` file (saved to a recovery file when it cannot be written), a shard's sidecar,
and a video's own files (a failed one becomes that video's error, the batch goes on)."""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import reports
from ..fileio import write_atomic

if TYPE_CHECKING:
    from .plan import Batch
    from .resume import Resume

log = logging.getLogger("stcli.batch")


def write_failed(result: Any, flag: str, exc: OSError) -> Any:
    """``result`` turned into its video's error after writing one of its files failed:
    the batch goes on, the error names the file."""
    return dataclasses.replace(
        result, status="error", error=f"{flag}: cannot write {exc.filename or ''} "
        f"({exc.strerror or exc})".replace("  ", " "))


def write_report(writer: Resume, rec: dict[str, Any]) -> dict[str, Any]:
    """Write one per-video report; failing that, the record becomes the video's error."""
    try:
        writer.write(rec)
    except OSError as exc:
        return {**rec, "status": "error", "error": f"--report-dir: cannot write "
                f"{exc.filename} ({exc.strerror or exc})"}
    return rec


def write_sidecar(batch: Batch, records: list[dict[str, Any]],
                  meta: dict[str, Any] | None) -> bool:
    """Write a shard's merge data; False (exit 3) when it cannot be: the part is written
    but merge would call the shard missing, so running it again is the fix."""
    assert batch.part is not None and batch.sidecar is not None and batch.run is not None
    try:
        batch.part.write_sidecar(batch.sidecar, batch.command, batch.run, records, meta)
    except OSError as exc:
        log.error("--shard: cannot write %s (%s); run shard %s again", exc.filename or
                  batch.sidecar, exc.strerror or exc, batch.part.shard)
        return False
    return True


def write_out(out: Path, layout: reports.Layout, records: list[dict[str, Any]],
              meta: dict[str, Any] | None, writer: Resume | None) -> bool:
    """Write ``--out``. When that fails (disk full, read-only, gone), save the same text
    to a recovery file (beside it, else in the report folder, the working folder or the
    temporary folder), say where, and return False: finished work is never lost."""
    text = layout.render(records, reports.format_from_path(out).value, meta)
    try:
        write_atomic(out, text)
        return True
    except OSError as exc:
        log.error("--out: cannot write %s (%s)", exc.filename or out, exc.strerror or exc)
    name = f"{out.stem}.recovered-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}{out.suffix}"
    places = [out.parent, writer.folder if writer else None, Path.cwd(),
              Path(tempfile.gettempdir())]
    for folder in dict.fromkeys(p for p in places if p is not None):
        try:
            write_atomic(folder / name, text)
        except OSError:
            continue
        log.error("the results of %d videos were saved to %s instead", len(records),
                  folder / name)
        return False
    log.error("the results could not be saved anywhere (%s)",
              ", ".join(str(p) for p in places if p is not None))
    return False
