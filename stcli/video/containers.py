"""What a file's first bytes and its MP4 boxes say, without starting a decoder: whether a
container looks whole, whether the file is a still image, and how the video is to be
displayed (the track's display matrix, which phones write into MP4/MOV for rotation).

Display matrices are read here, from the file, for both decoders: decord applies only the
rotation part of the matrix (it turns a mirrored video by 180 degrees) and ffmpeg before 6
treats flips the same way, so stcli decodes the stored frames and orients them itself
(``video.orient``).
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO, TypeVar

import numpy as np

from ..errors import VideoError

# Leading bytes of containers decord opens without complaint when they are complete.
_SIGNATURES = (b"\x1a\x45\xdf\xa3", b"RIFF", b"FLV", b"OggS", b"\x00\x00\x01\xba",
               b"\x30\x26\xb2\x75")
# Still-image formats, by their leading bytes (WebP: RIFF....WEBP, checked apart).
_IMAGES = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"BM", "BMP"),
           (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"\x00\x00\x01\x00", "ICO"))

T = TypeVar("T")
Matrix = tuple[int, int, int, int]  # (a, b, c, d): x' = a x + c y, y' = b x + d y
IDENTITY: Matrix = (1, 0, 0, 1)


def head_of(path: str, size: int = 12) -> bytes:
    """The first ``size`` bytes of a file."""
    with open(path, "rb") as f:
        return f.read(size)


def still_image(head: bytes) -> str | None:
    """The image format a file's first bytes announce (JPEG, PNG, ...), or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in _IMAGES if head.startswith(magic)), None)


def _boxes(f: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """``(type, payload start, box end)`` of the ISO-BMFF boxes in ``[start, end)``;
    stops at the first box that does not fit."""
    offset = start
    while offset + 8 <= end:
        f.seek(offset)
        header = f.read(16)
        if len(header) < 8:
            return
        length, kind = struct.unpack(">I4s", header[:8])
        payload = offset + 8
        if length == 1 and len(header) == 16:
            length, payload = struct.unpack(">Q", header[8:16])[0], offset + 16
        elif length == 0:
            length = end - offset
        if length < payload - offset or offset + length > end:
            return
        yield kind, payload, offset + length
        offset += length


def looks_intact(path: str) -> bool:
    """A cheap check (no subprocess) that ``path`` starts like a video container and, for
    MP4/MOV, that its top-level boxes include ``moov`` and end where the file ends.

    True lets a file go straight to decord, sparing the ~0.1 s ffprobe start."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if head[4:8] != b"ftyp":
            return head.startswith(_SIGNATURES)
        seen_moov, last = False, 0
        for kind, _, end in _boxes(f, 0, size):
            seen_moov |= kind == b"moov"
            last = end
        return seen_moov and last == size


def display_matrix(path: str) -> Matrix:
    """The display matrix of the first video track of an MP4/MOV/3GP file, reduced to
    the signs of its 2x2 part (rotations by multiples of 90 degrees and flips); the
    identity for other containers, for a plain track, and for a matrix that turns by
    another angle (which no decoder applies either)."""
    return _first_video_track(path, _track_matrix) or IDENTITY


def mp4_video_codec(path: str) -> tuple[str, int | None] | None:
    """``(sample entry type, bits per sample)`` of the first video track of an MP4/MOV
    file (``("avc1", 8)``); bits None when the file does not say; None for other
    containers or when there is no video track. Read from ``stsd``: ``avcC`` (High 10,
    4:2:2 and 4:4:4 profiles carry the depth), ``hvcC`` and ``vpcC``."""
    return _first_video_track(path, _sample_entry)


def _first_video_track(path: str, read: Callable[[BinaryIO, int, int], T]) -> T | None:
    """``read(file, start, end)`` of the first video ``trak`` of an MP4/MOV file; None for
    other files and for files without a video track."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if f.read(8)[4:8] != b"ftyp":
            return None
        for moov, start, end in _boxes(f, 0, size):
            if moov != b"moov":
                continue
            for trak, t_start, t_end in _boxes(f, start, end):
                if trak == b"trak" and _is_video(f, t_start, t_end):
                    return read(f, t_start, t_end)
    return None


def _child(f: BinaryIO, start: int, end: int, path: tuple[bytes, ...]) -> tuple[int, int] | None:
    """``(payload start, end)`` of the box at ``path`` below ``[start, end)``."""
    for kind, payload, box_end in _boxes(f, start, end):
        if kind == path[0]:
            return (payload, box_end) if len(path) == 1 else _child(f, payload, box_end,
                                                                    path[1:])
    return None


def _is_video(f: BinaryIO, start: int, end: int) -> bool:
    """Whether a ``trak``'s handler is ``vide``."""
    hdlr = _child(f, start, end, (b"mdia", b"hdlr"))
    if hdlr is None:
        return False
    f.seek(hdlr[0] + 8)  # version/flags, pre-defined
    return f.read(4) == b"vide"


def _track_matrix(f: BinaryIO, start: int, end: int) -> Matrix:
    """The reduced display matrix in a ``trak``'s header."""
    tkhd = _child(f, start, end, (b"tkhd",))
    if tkhd is None:
        return IDENTITY
    f.seek(tkhd[0])
    # tkhd: version/flags, times and ids (20 or 32 bytes), reserved, layer, group, volume,
    # reserved, then the 3x3 matrix of 32-bit values.
    f.seek(tkhd[0] + (52 if f.read(1) == b"\x01" else 40))
    values = f.read(36)
    return reduce_matrix(struct.unpack(">9i", values)) if len(values) == 36 else IDENTITY


def reduce_matrix(values: Sequence[int]) -> Matrix:
    """The signs of a 16.16 matrix's 2x2 part (the 3x3 matrix row by row, as MP4 stores it
    and ffprobe prints it) when it is axis-aligned, else the identity."""
    a, b, _, c, d = values[:5]
    if (a == 0 and d == 0 and b != 0 and c != 0) or (b == 0 and c == 0 and a != 0 and d != 0):
        return (_sign(a), _sign(b), _sign(c), _sign(d))
    return IDENTITY


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def rotation_part(m: Matrix) -> Matrix:
    """The pure rotation a decoder that ignores flips applies for ``m``: the angle
    ``av_display_rotation_get`` reports (decord and ffmpeg 4.x turn by it), as a matrix."""
    a, b, c, d = m
    angle = -math.degrees(math.atan2(b / math.hypot(b, d), a / math.hypot(a, c)))
    turns = round(angle / 90) % 4
    return {0: IDENTITY, 1: (0, -1, 1, 0), 2: (-1, 0, 0, -1), 3: (0, 1, -1, 0)}[turns]


def compose(first: Matrix, then: Matrix) -> Matrix:
    """The matrix of orienting by ``first`` and then by ``then`` (row vectors: ``p M1 M2``)."""
    a1, b1, c1, d1 = first
    a2, b2, c2, d2 = then
    return (a1 * a2 + b1 * c2, a1 * b2 + b1 * d2, c1 * a2 + d1 * c2, c1 * b2 + d1 * d2)


def inverse(m: Matrix) -> Matrix:
    """The inverse of an axis-aligned orientation (its transpose)."""
    a, b, c, d = m
    return (a, c, b, d)



def _sample_entry(f: BinaryIO, start: int, end: int) -> tuple[str, int | None] | None:
    """The type and bit depth of a video ``trak``'s first sample entry."""
    stsd = _child(f, start, end, (b"mdia", b"minf", b"stbl", b"stsd"))
    if stsd is None:
        return None
    # stsd: version/flags, entry count, then the first entry; a visual sample entry has
    # 78 bytes of fields before its own boxes (avcC, hvcC, ...).
    entries = list(_boxes(f, stsd[0] + 8, stsd[1]))
    if not entries:
        return None
    kind, payload, entry_end = entries[0]
    fourcc = kind.decode("latin-1")
    bits = None
    for box, box_payload, box_end in _boxes(f, payload + 78, entry_end):
        f.seek(box_payload)
        data = f.read(min(box_end - box_payload, 4096))
        bits = _bit_depth(box, data)
        if bits is not None:
            break
    return fourcc, bits


def _bit_depth(box: bytes, data: bytes) -> int | None:
    """Bits per luma sample a codec configuration box states, if it does."""
    if box == b"hvcC" and len(data) > 17:
        return (data[17] & 0x07) + 8
    if box == b"vpcC" and len(data) > 6:
        return data[6] >> 4
    if box == b"avcC" and len(data) > 6:
        if data[1] not in (110, 122, 144, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
            return 8  # Baseline, Main, Extended and High: 8 bits only
        offset, count = 6, data[5] & 0x1F
        for _ in range(2):  # the SPS list, then the PPS list (its count is one byte)
            for _ in range(count):
                if offset + 2 > len(data):
                    return None
                offset += 2 + int.from_bytes(data[offset : offset + 2], "big")
            if offset >= len(data):
                return None
            count, offset = data[offset], offset + 1
        # High profiles then carry chroma_format and bit_depth_luma_minus8.
        return (data[offset + 1] & 0x07) + 8 if offset + 1 < len(data) else None
    return None


def orient(frames: np.ndarray, m: Matrix) -> np.ndarray:
    """Frames ``(n, H, W, 3)`` turned and flipped by the display matrix ``m``
    (``x' = a x + c y``, ``y' = b x + d y``); contiguous (the network's tensors need it)."""
    if m == IDENTITY:
        return frames
    a, b, c, d = m
    if b or c:  # the axes swap: transpose, then mirror what the signs say
        out = frames.transpose(0, 2, 1, 3)
        out = out[:, ::-1] if b < 0 else out
        out = out[:, :, ::-1] if c < 0 else out
    else:
        out = frames[:, ::-1] if d < 0 else frames
        out = out[:, :, ::-1] if a < 0 else out
    return np.ascontiguousarray(out)


def swaps_axes(m: Matrix) -> bool:
    """Whether ``m`` swaps width and height (a quarter turn)."""
    return bool(m[1] or m[2])


def frame_times(starts: Sequence[float], end: float | None, fps: float,
                path: str) -> tuple[np.ndarray, float, bool]:
    """``(timestamps from the first frame, duration, variable rate)`` from each frame's
    presentation time (any order) and the end of the last frame (None: one mean interval
    after it)."""
    t = np.sort(np.asarray(starts, dtype=np.float64))
    if not len(t) or not np.isfinite(t).all():
        raise VideoError(path, "has frames without timestamps")
    t -= t[0]
    steps = np.diff(t)
    mean = float(steps.mean()) if len(steps) else (1.0 / fps if fps > 0 else 0.0)
    last = (end - np.min(starts)) if end is not None else t[-1] + mean
    variable = bool(len(steps) > 1 and steps.max() - steps.min() > max(1e-3, 0.01 * mean))
    return t, max(float(last), float(t[-1])), variable
