"""``stcli watch``: action labels of a camera, a network stream or a file, as it plays."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from ..choices import WatchFormat
from ..settings import ModelSpec, WatchSettings
from ._common import (
    STDOUT,
    STOP_SIGNALS,
    Interrupted,
    QuietOption,
    catchable,
    choice_option,
    domain_errors,
    model_options,
    print_table,
    write_stdout,
)

log = logging.getLogger("stcli.cli")


@model_options("recognition")
def watch(
    source: Annotated[str, typer.Argument(
        help="A camera (/dev/video0), a stream URL (rtsp://, rtmp://, http(s)://, udp://, "
        "tcp://, an HLS .m3u8) or a video file.", show_default=False)],
    model: ModelSpec,
    every: Annotated[float, typer.Option(
        "--every", help="Seconds of stream time between scored clips.")] = WatchSettings.every,
    average: Annotated[int, typer.Option(
        "--average", min=1, help="Average the probabilities of the last N clips.")
    ] = WatchSettings.average,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Labels per event.")
                     ] = WatchSettings.top_k,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help="Report action segments: a label whose averaged score stays at "
        "or above T opens one (a 'start' event), dropping below closes it ('end').",
        show_default=False)] = WatchSettings.threshold,
    min_duration: Annotated[float, typer.Option(
        "--min-duration", help="With --threshold: seconds a label must stay above it before "
        "its segment starts.")] = WatchSettings.min_duration,
    duration: Annotated[float | None, typer.Option(
        "--duration", help="Stop after S seconds of stream time (default: until the stream "
        "ends or Ctrl-C).", show_default=False)] = WatchSettings.duration,
    realtime: Annotated[bool, typer.Option(
        "--realtime", help="Read a file at its own frame rate, as if it were live (default: "
        "as fast as scoring allows).")] = WatchSettings.realtime,
    reconnect: Annotated[int, typer.Option(
        "--reconnect", min=0, help="Reconnect up to N times when a stream is lost or refused "
        "(waiting 1, 2, 4, 4... s).")] = WatchSettings.reconnect,
    timeout: Annotated[float, typer.Option(
        "--timeout", help="Seconds without data after which a stream counts as lost.")
    ] = WatchSettings.timeout,
    fmt: Annotated[str | None, choice_option(
        WatchFormat, "--format", "-f", help="table (a live view) or jsonl (one JSON event "
        "per line). Default: table on a terminal, jsonl otherwise.")] = None,
    render: Annotated[Path | None, typer.Option(
        "--render", help="Also write the watched video with the newest labels drawn on it "
        "(an H.264 MP4, complete when the watch ends).", dir_okay=False,
        show_default=False)] = None,
    quiet: QuietOption = False,
) -> None:
    """Watch a live source: score the newest clip every few seconds of stream time."""
    with domain_errors(quiet):
        from ..render import LiveRenderer
        from ..results import WatchScore
        from ..tasks.watch import check_source, load_watcher  # numpy, onnxruntime: not for
        from ..tasks.watch import watch as watch_source  # --help

        settings = WatchSettings(**WatchSettings.pick(locals()))
        chosen = WatchFormat.parse(fmt if fmt is not None else
                                   "table" if sys.stdout.isatty() else "jsonl")
        check_source(source)  # a missing file or unknown scheme fails before the model loads
        recognizer = load_watcher(model, progress=not quiet)
        renderer = None if render is None else LiveRenderer(render)
        shown = _Jsonl() if chosen == WatchFormat.JSONL else _LiveView()

        stop = _Stop()

        def show(event: Any) -> None:
            with stop.whole():  # a second signal meanwhile takes effect once it is shown
                if renderer is not None and isinstance(event, WatchScore):
                    renderer.show([(entry.label, entry.score) for entry in event.topk])
                shown(event)

        events = watch_source(source, settings, recognizer, stop=stop.event,
                              on_frame=None if renderer is None else renderer.frame)
        try:
            with stop.on_signals():
                try:
                    for event in events:
                        show(event)
                        if STDOUT.closed:  # the reader went away (| head): stop watching
                            events.close()
                            return
                except KeyboardInterrupt as exc:
                    # A second Ctrl-C while an event was being shown: the watch still
                    # closes its segments and sums up, then the interruption goes on.
                    show(events.throw(exc))
                    for event in events:
                        show(event)
        finally:
            shown.close()
            if renderer is not None:
                renderer.close()  # also after Ctrl-C or a lost stream: what was watched
        if stop.signum is not None:
            log.error("interrupted (%s)", signal.Signals(stop.signum).name)
            raise typer.Exit(128 + stop.signum)


class _Stop:
    """Ctrl-C, SIGTERM or SIGHUP during a watch: the first one asks the watch to stop
    after its current step (every event written whole, open segments ended, the summary
    last; exit 128 + the signal); a second one interrupts at once, as elsewhere, except
    that the event being shown, if any, is finished first (a line cut short, or one left
    out while the segment it starts counts as started, would break the output)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self.showing = False
        self.deferred: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
            self.event.set()
        elif self.showing:
            self.deferred = signum
        else:
            self._interrupt(signum)

    def _interrupt(self, signum: int) -> None:
        self._restore()  # the next signal acts as it does everywhere
        raise Interrupted(signum)

    @contextlib.contextmanager
    def whole(self) -> Iterator[None]:
        """Show one event; a second signal meanwhile interrupts once it is shown."""
        self.showing = True
        try:
            yield
        finally:
            self.showing = False
        if self.deferred is not None:
            self._interrupt(self.deferred)

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    @contextlib.contextmanager
    def on_signals(self) -> Iterator[None]:
        """Catch the stop signals for the duration (main thread only)."""
        if threading.current_thread() is threading.main_thread():
            for sig in catchable((signal.SIGINT, *STOP_SIGNALS)):
                self._previous[sig] = signal.signal(sig, self._handle)
        try:
            yield
        finally:
            self._restore()


def _record(event: Any) -> dict[str, Any]:
    from ..reports import watch_record

    return watch_record(event)


class _Jsonl:
    """One JSON object per event and line, flushed as it comes, and whole: written to the
    descriptor until all of it is out. (A signal cuts a write to a pipe short, and
    Python's unbuffered stdout, ``PYTHONUNBUFFERED`` or ``python -u``, drops the rest.)"""

    def __call__(self, event: Any) -> None:
        line = json.dumps(_record(event)) + "\n"
        try:
            fd = sys.stdout.fileno()
        except (AttributeError, OSError, ValueError):  # not a file (captured): as it is
            write_stdout(line)
            return
        with STDOUT.guard():
            sys.stdout.flush()  # what went through sys.stdout first
            data = memoryview(line.encode())
            while data:
                data = data[os.write(fd, data):]

    def close(self) -> None:
        """Nothing held."""


class _LiveView:
    """A table of the newest scores redrawn in place; segment starts and ends printed
    above it as they come; the summary as a table at the end."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=sys.stdout)
        self.live = Live(console=self.console, auto_refresh=False)
        self.live.start()
        self.open: dict[str, float] = {}

    def __call__(self, event: Any) -> None:
        from rich.table import Table
        from rich.text import Text

        rec = _record(event)
        kind = rec["type"]
        with STDOUT.guard():
            if kind == "score":
                table = Table(title=Text(f"stream {rec['stream_time']:.1f} s   latency "
                                         f"{rec['latency_ms']:.0f} ms"), show_header=True,
                              header_style="bold")
                for column in ("rank", "label", "score", "segment since"):
                    table.add_column(Text(column))
                for entry in rec["topk"]:
                    since = self.open.get(entry["label"])
                    table.add_row(str(entry["rank"]), Text(entry["label"]),
                                  f"{entry['score']:.4f}",
                                  "" if since is None else f"{since:.1f} s")
                self.live.update(table, refresh=True)
            elif kind == "start":
                self.open[rec["label"]] = rec["start_s"]
                self.live.console.print(Text(f"{rec['start_s']:8.1f} s  start  {rec['label']}"))
            elif kind == "end":
                self.open.pop(rec["label"], None)
                self.live.console.print(Text(
                    f"{rec['end_s']:8.1f} s  end    {rec['label']} (from {rec['start_s']:.1f}"
                    f" s, mean score {rec['score']:.4f})"))
            else:
                self.close()
                rows = [(key, "" if value is None else str(value)) for key, value in rec.items()
                        if key not in ("type", "wall_time")]
                print_table(("summary", ""), rows)

    def close(self) -> None:
        """Leave the last table on the screen."""
        if self.live.is_started:
            self.live.stop()
            if not self.console.is_terminal:
                self.console.line()  # a file gets the last table, then a line break
