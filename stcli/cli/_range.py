"""``--start`` / ``--end``: the part of each video that classify, localize, detect and
features analyse. Given as text and parsed once, into the task's settings
(``settings.parse_time``)."""

from __future__ import annotations

from typing import Annotated

import typer

_FORMS = "seconds (12.5) or [HH:]MM:SS[.fff] (1:02:03.5)"

StartOption = Annotated[str | None, typer.Option(
    "--start", help=f"Analyse each video from this time on, as if cut there: {_FORMS}. "
    "Reported times stay the video's own.", show_default=False)]
EndOption = Annotated[str | None, typer.Option(
    "--end", help=f"Analyse each video up to this time (frames shown before it): {_FORMS}.",
    show_default=False)]
