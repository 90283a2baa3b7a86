"""Checks of options that must fail before the model loads and before anything reaches
stdout: conflicting options and bounds on the work one option can ask for (refused unless
``--force``, with an estimate of the cost). Output files and folders are checked by the
library (``stcli.batch.check_outputs``).

``--views 1000000x1`` is a valid protocol that runs for days; a typo (an extra zero) must
not cost hours of CPU time before anyone notices.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import UsageError
from ..presets import Protocol

MAX_VIEWS = 100  # clips x crops per video (the official protocols use at most 30)
# Rough cost of one view (a 16-frame 224x224 clip) on a 2-core CPU: the network alone
# measured 73-77 ms with onnxruntime and 92-113 ms with eager torch (README,
# "Backends"); decoding adds some. Only an order of magnitude for the message: a GPU is
# far faster, a big CPU faster too.
SECONDS_PER_VIEW = 0.08

ForceOption = Annotated[bool, typer.Option(
    "--force", help=f"Run --views of more than {MAX_VIEWS} clips x crops per video (slow: "
    "the error gives an estimate).")]


def _estimate(seconds: float) -> str:
    """``about 40 s``, ``about 13 min``, ``about 22 h``, ``about 3 days``."""
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"about {seconds / size:.0f} {unit}"
    return f"about {seconds:.0f} s"


def check_views(protocol: Protocol, force: bool, per: str = "video") -> None:
    """Refuse a protocol of more than ``MAX_VIEWS`` views per ``per`` (video, training
    clip) unless ``force``; the error says how many and roughly how long on a CPU."""
    views = protocol.num_clips * protocol.crops
    if views <= MAX_VIEWS or force:
        return
    raise UsageError(
        f"--views {protocol.views} is {views} clips x crops per {per}, more than "
        f"{MAX_VIEWS}: {_estimate(views * SECONDS_PER_VIEW)} per {per} on a CPU "
        f"(estimate, ~{SECONDS_PER_VIEW:g} s a view); pass --force to run it anyway")


def given(ctx: typer.Context, name: str) -> bool:
    """Whether the option of parameter ``name`` was given, not left at its default (a
    default never conflicts with anything). Typer's own context: it vendors click."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"


def conflict(first: str, second: str, *, both: bool) -> None:
    """Refuse two options that say different things about one choice."""
    if both:
        raise UsageError(f"{first} and {second} conflict: give one")
