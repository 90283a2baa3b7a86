"""Pictures of results: PNG timelines of localization scores and segments.

matplotlib is an optional extra (``pip install 'stcli[plot]'``); nothing else in stcli
needs it, so it is imported only here and only when a picture is asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import UsageError

_TOP_CLASSES = 5


def require_matplotlib() -> None:
    """Fail early, with the fix, when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise UsageError("--plot needs matplotlib: pip install 'stcli[plot]'") from exc


def plot_timeline(path: str | Path, result: Any, top: int = _TOP_CLASSES) -> Path:
    """Score curves of the ``top`` best classes over time with their segments drawn as
    bars below; written atomically to ``path``."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt
    import numpy as np

    from .reports import write_atomic_bytes

    ws = result.window_scores
    order = np.argsort(-ws.scores.max(axis=0, initial=0.0), kind="stable")[:top]
    centres = (ws.starts_s + ws.ends_s) / 2
    fig, (curves, bars) = plt.subplots(
        2, 1, figsize=(10, 4.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    colours = {}
    for k in order:
        sel = np.argsort(centres, kind="stable")
        (line,) = curves.plot(centres[sel], ws.scores[sel, k], label=ws.labels[k], lw=1.2)
        colours[ws.labels[k]] = line.get_color()
    curves.set_ylabel("window score")
    curves.set_ylim(0, 1.02)
    curves.legend(loc="upper right", fontsize="small")
    curves.set_title(f"{Path(result.video).name}: {len(result.segments)} segments")
    labels = sorted({s.label for s in result.segments}, key=lambda lab: lab not in colours)
    for row, label in enumerate(labels):
        for s in (s for s in result.segments if s.label == label):
            bars.broken_barh([(s.start_s, s.end_s - s.start_s)], (row - 0.4, 0.8),
                             color=colours.get(label, "grey"), alpha=min(1.0, 0.3 + s.score))
    bars.set_yticks(range(len(labels)), labels, fontsize="small")
    bars.set_xlabel("time (s)")
    bars.set_xlim(0, max(result.duration_s, float(ws.ends_s.max(initial=0.0))))
    fig.tight_layout()
    from io import BytesIO

    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_atomic_bytes(path, buffer.getvalue())
    return Path(path)
