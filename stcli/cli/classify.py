"""``stcli classify``: top-k action labels per video by the official test protocol."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..batch import CLASSIFY
from ..presets import load_preset
from ..settings import ClassifySettings, ModelSpec
from ._batch import BatchArgs, batch_command, run_command
from ._checks import ForceOption, check_views
from ._common import PathsArgument, Styled, domain_errors, print_table


@batch_command(CLASSIFY)
def classify(
    paths: PathsArgument,
    model: ModelSpec,
    views: Annotated[str | None, typer.Option(
        "--views", help="Clips x crops, e.g. 10x3 or 1x1 (crops 1 or 3). "
        "Default: the preset's official test protocol.")] = ClassifySettings.views,
    fast: Annotated[bool, typer.Option(
        "--fast", help="1 clip, short side 256, centre crop 224 (validation setting).")
    ] = ClassifySettings.fast,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Labels per video.")
                     ] = ClassifySettings.top_k,
    force: ForceOption = False,
    batch: BatchArgs = BatchArgs(),
) -> None:
    """Classify videos: top-k action labels per video, by the official test protocol."""
    with domain_errors(batch.quiet):
        settings = ClassifySettings(views=views, fast=fast, top_k=top_k, **batch.time_range)
        # Bad or huge --views fail before the model loads.
        check_views(settings.protocol(load_preset(model.preset)), force)
        run_command(CLASSIFY, paths, model, settings, batch, table=_table)


def _table(records: list[dict[str, Any]]) -> None:
    rows = []
    for rec in records:
        if rec["status"] != "ok":
            rows.append((rec["video"], "", Styled(f"error: {rec['error']}", "red"), ""))
            continue
        for entry in rec["topk"]:
            rows.append((rec["video"] if entry["rank"] == 1 else "", str(entry["rank"]),
                         entry["label"], f"{entry['score']:.4f}"))
    print_table(("video", "rank", "label", "score"), rows)
