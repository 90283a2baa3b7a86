"""Pictures of results: PNG timelines of localization scores and segments, and videos
annotated with detected persons and their actions.

matplotlib is an optional extra (``pip install 'stcli[plot]'``); nothing else in stcli
needs it, so it is imported only here and only when a picture is asked for. OpenCV (a
core dependency, for the person detector) draws the boxes and text of annotated videos,
and ffmpeg encodes them.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

from .errors import VideoError, extra_missing
from .fileio import atomic_path, write_atomic_bytes
from .results import Detection, Keyframe, PersonActions
from .video.decoding import passthrough
from .video.frames import VideoInfo, open_video

_TOP_CLASSES = 5


def require_matplotlib() -> None:
    """Fail early, with the fix, when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401 - the optional 'plot' extra
    except ImportError as exc:
        raise extra_missing("--plot", "plot") from exc


def pyplot() -> Any:
    """matplotlib's pyplot drawing into files only (never a window); the fix when missing."""
    require_matplotlib()
    import matplotlib  # the optional 'plot' extra

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path) -> Path:
    """``fig`` as a PNG written atomically to ``path``, then closed (pyplot keeps every open
    figure otherwise)."""
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    pyplot().close(fig)
    write_atomic_bytes(path, buffer.getvalue())
    return Path(path)


def plot_timeline(path: str | Path, result: Any, top: int = _TOP_CLASSES) -> Path:
    """Score curves of the ``top`` best classes over time with their segments drawn as
    bars below; written atomically to ``path``."""
    plt = pyplot()
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
    # Rows: the curves' classes in their order, then the others by their first segment in
    # the list (a set's order would change with the process's string hash seed).
    labels = sorted(dict.fromkeys(s.label for s in result.segments),
                    key=lambda lab: lab not in colours)
    for row, label in enumerate(labels):
        for s in (s for s in result.segments if s.label == label):
            bars.broken_barh([(s.start_s, s.end_s - s.start_s)], (row - 0.4, 0.8),
                             color=colours.get(label, "grey"), alpha=min(1.0, 0.3 + s.score))
    bars.set_yticks(range(len(labels)), labels, fontsize="small")
    bars.set_xlabel("time (s)")
    bars.set_xlim(0, max(result.duration_s, float(ws.ends_s.max(initial=0.0))))
    fig.tight_layout()
    return save_figure(fig, path)


# One colour per person index (RGB), cycled: Trubetskoy's distinct colours, all of them
# saturated enough to stand out from natural video.
PERSON_COLOURS: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60),
)
# libx264 settings: veryfast keeps encoding 1080p cheaper than decoding it, and CRF 20
# keeps thin box lines and small text sharp; file size is not the point of this file.
_ENCODER = "libx264"
_PRESET = "veryfast"
_CRF = 20


def person_colour(index: int) -> tuple[int, int, int]:
    """The RGB colour of the ``index``-th person of a keyframe."""
    return PERSON_COLOURS[index % len(PERSON_COLOURS)]


@dataclass(frozen=True)
class _Style:
    """Line and text sizes for one frame size, so that labels read alike on 320x240 and
    on 1920x1080 (OpenCV's font scale is in pixels, not relative to the frame)."""

    font_scale: float
    text_thickness: int
    box_thickness: int
    pad: int

    @classmethod
    def for_frame(cls, height: int, width: int) -> _Style:
        short = min(height, width)
        font_scale = max(0.35, short / 600)  # 0.4 at 240 lines, 1.8 at 1080
        return cls(
            font_scale=font_scale,
            text_thickness=max(1, round(font_scale * 1.5)),
            box_thickness=max(1, round(short / 200)),
            pad=max(1, round(font_scale * 4)),
        )


def _text_colour(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black on light backgrounds, white on dark ones (Rec. 601 luma)."""
    r, g, b = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def _draw_label(
    frame: np.ndarray, lines: Sequence[str], left: int, top: int,
    background: tuple[int, int, int], style: _Style, *, scale: float | None = None,
    above: bool = False,
) -> None:
    """Text lines on a filled rectangle with its top-left corner at (``left``, ``top``), or
    with its bottom edge at ``top`` when ``above`` and there is room; moved as little as
    needed to stay inside the frame."""
    import cv2  # OpenCV is slow to import: only when drawing

    font, scale = cv2.FONT_HERSHEY_SIMPLEX, scale or style.font_scale
    sizes = [cv2.getTextSize(line, font, scale, style.text_thickness) for line in lines]
    line_h = max(th + base for (_, th), base in sizes) + style.pad
    block_w = max(tw for (tw, _), _ in sizes) + 2 * style.pad
    block_h = line_h * len(lines) + style.pad
    if above and top >= block_h:
        top -= block_h
    height, width = frame.shape[:2]
    left = max(0, min(left, width - block_w))
    top = max(0, min(top, height - block_h))
    cv2.rectangle(frame, (left, top), (left + block_w - 1, top + block_h - 1), background,
                  thickness=cv2.FILLED)
    colour = _text_colour(background)
    for row, (line, ((_, th), _)) in enumerate(zip(lines, sizes, strict=True)):
        baseline_y = top + style.pad + row * line_h + th
        cv2.putText(frame, line, (left + style.pad, baseline_y), font, scale, colour,
                    style.text_thickness, cv2.LINE_AA)


def _pixel_box(box: Sequence[float], height: int, width: int) -> tuple[int, int, int, int]:
    """A normalized ``(x1, y1, x2, y2)`` box in pixels, ordered and clipped to the frame."""
    x1, x2 = sorted((box[0] * width, box[2] * width))
    y1, y2 = sorted((box[1] * height, box[3] * height))

    def clip(value: float, size: int) -> int:
        return int(min(max(round(value), 0), size - 1))

    return clip(x1, width), clip(y1, height), clip(x2, width), clip(y2, height)


def draw_persons(
    frame: np.ndarray, persons: Sequence[PersonActions], threshold: float = 0.5, top: int = 3
) -> None:
    """Draw each person's box and up to ``top`` actions scoring at least ``threshold`` into
    ``frame`` (RGB uint8 ``(H, W, 3)``, C-contiguous and writable), in place.

    The box takes the person's colour (:func:`person_colour` of its index); the actions
    are ``name score`` lines on a label of that colour above the box, or inside its top
    when there is no room above. A person with no action above ``threshold`` gets the box
    alone.
    """
    import cv2  # OpenCV is slow to import: only when drawing

    height, width = frame.shape[:2]
    style = _Style.for_frame(height, width)
    for index, person in enumerate(persons):
        colour = person_colour(index)
        x1, y1, x2, y2 = _pixel_box(person.box, height, width)
        cv2.rectangle(frame, (x1, y1), (x2, y2), colour, style.box_thickness)
        lines = [f"{a.label} {a.score:.2f}" for a in person.above(threshold)[: max(top, 0)]]
        if lines:
            # Above the box when it fits, so that the label hides none of the person.
            _draw_label(frame, lines, x1, y1, colour, style, above=True)


def draw_timestamp(frame: np.ndarray, seconds: float) -> None:
    """The keyframe time, small, white on black in the bottom-left corner, in place."""
    style = _Style.for_frame(*frame.shape[:2])
    # Bottom row asked for, the label is moved up until it fits.
    _draw_label(frame, [f"{seconds:.2f} s"], 0, frame.shape[0], (0, 0, 0), style,
                scale=style.font_scale * 0.7)


def held_keyframes(keyframes: Sequence[Keyframe], num_frames: int) -> Iterator[Keyframe | None]:
    """For each frame index ``0 .. num_frames - 1``, the keyframe whose boxes it shows: the
    latest one at or before it (boxes are held until the next keyframe), the first one for
    frames before that; ``None`` for every frame when there are no keyframes."""
    ordered = sorted(keyframes, key=lambda k: k.frame)
    current = ordered[0] if ordered else None
    upcoming = iter(ordered[1:])
    following = next(upcoming, None)
    for index in range(num_frames):
        # A while, not an if: several keyframes may share a frame or fall between two.
        while following is not None and following.frame <= index:
            current, following = following, next(upcoming, None)
        yield current


class _H264Writer:
    """An ffmpeg process that encodes raw RGB frames written to its stdin into an H.264
    MP4 file. Failures are :class:`VideoError` naming ``label`` (the file the user asked
    for, not the temporary file ffmpeg writes)."""

    def __init__(self, path: Path, label: Path, info: VideoInfo, fps: float,
                 sar: str = "1:1") -> None:
        import ffmpeg  # ffmpeg-python: loads on use, like the other decoders

        self.label = label
        rate = Fraction(fps).limit_denominator(100_000)  # 29.97... -> 30000/1001, exactly
        # yuv420p halves the chroma resolution and so needs even sizes; an odd-sized source
        # keeps its exact size with full-resolution chroma instead of being cropped/padded.
        even = info.width % 2 == 0 and info.height % 2 == 0
        stream = ffmpeg.input(
            "pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{info.width}x{info.height}",
            framerate=str(rate),
        ).output(
            str(path), format="mp4", vcodec=_ENCODER, pix_fmt="yuv420p" if even else "yuv444p",
            preset=_PRESET, crf=_CRF, movflags="+faststart",
            # Anamorphic sources keep their pixel shape (the frames are storage pixels).
            vf=f"setsar={sar.replace(':', '/')}",
            # One output frame per input frame: never drop or duplicate to fit a rate.
            **{passthrough()[0].lstrip("-"): passthrough()[1]},
        )
        cmd = ffmpeg.compile(stream.global_args("-v", "error", "-y"))
        # stderr goes to a file: a pipe nobody reads while frames are written could fill
        # and stall ffmpeg. Its own session: Ctrl-C at the terminal reaches stcli alone,
        # which finishes the file (stcli watch) or aborts it, rather than ffmpeg quitting
        # under it.
        self._errors = tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                          stdout=subprocess.DEVNULL, stderr=self._errors,
                                          start_new_session=True)
        except FileNotFoundError as exc:
            self._errors.close()
            raise VideoError(label, "cannot be encoded: ffmpeg is not installed") from exc

    def write(self, frames: np.ndarray) -> None:
        """Send frames ``(n, H, W, 3)`` uint8 RGB to the encoder."""
        try:
            self._proc.stdin.write(memoryview(np.ascontiguousarray(frames)).cast("B"))
        except BrokenPipeError:
            self._proc.wait()
            raise self._failure() from None

    def finish(self) -> None:
        """Flush the encoder and wait for the file to be complete."""
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg is gone already; its exit status and stderr say why
        if self._proc.wait() != 0:
            raise self._failure()
        self._errors.close()

    def abort(self) -> None:
        """Stop ffmpeg without waiting for it to finish the file."""
        self._proc.kill()
        self._proc.wait()
        self._errors.close()

    def _failure(self) -> VideoError:
        self._errors.seek(0)
        lines = self._errors.read().decode(errors="replace").strip().splitlines()
        if any(f"Unknown encoder '{_ENCODER}'" in line for line in lines):
            return VideoError(
                self.label, f"cannot be encoded: this ffmpeg has no H.264 encoder ({_ENCODER}); "
                "install an ffmpeg built with --enable-libx264",
            )
        detail = lines[-1] if lines else f"ffmpeg exited with status {self._proc.returncode}"
        return VideoError(self.label, f"encoding failed: {detail}")


def render_detections(
    source: str | Path, detection: Detection, out: str | Path, threshold: float = 0.5,
    top: int = 3, progress: Callable[[int], None] | None = None,
) -> Path:
    """Write ``source`` with ``detection``'s persons drawn on it to ``out``, an H.264 MP4
    with the source's size, frame count and rate; return ``out``.

    Every frame shows the persons of the latest keyframe at or before it (the first
    keyframe's before that) with up to ``top`` actions scoring at least ``threshold``
    (:func:`draw_persons`), and that keyframe's time in a corner. The source is decoded
    in one sequential pass, a chunk of frames at a time, so memory does not grow with its
    length. ``out`` is written through a temporary file in its folder and replaced only
    when encoding succeeded. ``progress``, when given, is called with the number of
    frames written since its previous call (it fits ``tqdm.update``).

    Raises :class:`VideoError` naming ``source`` when it cannot be decoded, naming ``out``
    when it cannot be written or encoded.
    """
    target = Path(out)
    if target.is_dir():
        raise VideoError(target, "is a directory; give a file name such as annotated.mp4")
    writer = None
    try:
        # The output's folder is checked first (atomic_path makes the temporary file
        # there): a typo should not cost a decoding pass.
        with atomic_path(target, make_folder=False) as tmp, \
                open_video(source, sequential=True) as video:
            info = video.info
            # A rate ffprobe could not tell: the detection's own, else the commonest one.
            fps = info.fps if info.fps > 0 else (detection.fps if detection.fps > 0 else 25.0)
            writer = _H264Writer(tmp, target, info, fps, video.sample_aspect_ratio)
            shown = held_keyframes(detection.keyframes, info.num_frames)
            for chunk in video.read_chunks(range(info.num_frames), info.frames_per_chunk()):
                if not chunk.flags.writeable:
                    chunk = chunk.copy()
                # chunk first: zip stops when the chunk ends, taking nothing more from shown.
                for frame, keyframe in zip(chunk, shown, strict=False):
                    if keyframe is not None:
                        draw_persons(frame, keyframe.persons, threshold, top)
                        draw_timestamp(frame, keyframe.timestamp)
                writer.write(chunk)
                if progress is not None:
                    progress(len(chunk))
            writer.finish()
            writer = None
    except BaseException as exc:
        if writer is not None:
            writer.abort()
        if isinstance(exc, OSError):  # the temporary file or the final rename
            raise VideoError(target, f"cannot be written ({exc.strerror or exc}: "
                             f"{target.parent})") from exc
        raise
    return target


class LiveRenderer:
    """``stcli watch --render``: the watched frames, with the newest labels and the stream
    time drawn on them, encoded to an H.264 MP4 as they come, at the stream's rate.

    ``frame`` is called from the watch's reader thread with each frame as read;
    ``show`` from the scorer's side with the newest top-k. ``out`` is written through a
    temporary file in its folder and appears when ``close`` finished the encoding (also
    after Ctrl-C: what was watched is kept); ``abort`` drops it. A reconnect that changes
    the frame size is scaled to the first size (one file, one size)."""

    def __init__(self, out: str | Path, top: int = 3) -> None:
        self.target, self.top = Path(out), top
        if self.target.is_dir():
            raise VideoError(self.target, "is a directory; give a file name such as live.mp4")
        self._files = contextlib.ExitStack()
        try:
            self._tmp = self._files.enter_context(atomic_path(self.target, make_folder=False))
        except OSError as exc:
            raise VideoError(self.target, f"cannot be written ({exc.strerror or exc}: "
                             f"{self.target.parent})") from exc
        self._writer: _H264Writer | None = None
        self._size: tuple[int, int] | None = None
        self._lines: list[str] = []

    def show(self, labels: Sequence[tuple[str, float]]) -> None:
        """The labels and scores drawn from now on (best first)."""
        self._lines = [f"{label} {score:.2f}" for label, score in labels[: self.top]]

    def frame(self, pixels: np.ndarray, seconds: float, fps: float) -> None:
        """Draw on a copy of ``pixels`` (RGB uint8) and encode it."""
        import cv2  # OpenCV is slow to import: only when drawing

        height, width = pixels.shape[:2]
        if self._writer is None:
            self._size = width, height
            info = VideoInfo(str(self.target), 0, fps, width, height, "ffmpeg")
            self._writer = _H264Writer(self._tmp, self.target, info, fps)
        if (width, height) != self._size:
            pixels = cv2.resize(pixels, self._size, interpolation=cv2.INTER_AREA)
        else:
            pixels = pixels.copy()  # the watch still needs the frame as read
        style = _Style.for_frame(*pixels.shape[:2])
        lines = self._lines
        if lines:
            _draw_label(pixels, lines, 0, 0, (0, 0, 0), style)
        draw_timestamp(pixels, seconds)
        self._writer.write(pixels[None])

    def close(self) -> None:
        """Finish the file (none when no frame came)."""
        if self._writer is None:
            self._discard()
            return
        try:
            self._writer.finish()
        except BaseException:
            self._discard()
            raise
        self._files.close()

    def abort(self) -> None:
        """Stop encoding; no file is left."""
        if self._writer is not None:
            self._writer.abort()
        self._discard()

    def _discard(self) -> None:
        # atomic_path removes its temporary file when its block ends in an exception.
        stopped = VideoError(self.target, "not written")
        self._files.__exit__(VideoError, stopped, None)
