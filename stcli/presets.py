"""Presets: the data files under ``presets/`` read into frozen dataclasses.

A preset names a checkpoint, the architecture it needs, its label list and the official
test protocol. Adding a checkpoint means adding a TOML file and a label list; no code.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from .errors import PresetError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

# The preset each task uses when none is named (the library and the CLI alike).
DEFAULT_PRESETS = {"recognition": "k400", "detection": "ava21"}
# Width of the backbone's pooled features (its last stage, 512 planes x 4): the size of
# `stcli features` rows and of a head's input, known without building the network.
FEATURE_DIM = 2048
_VIEWS = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")

# Installed, ``presets/`` is the package ``stcli.preset_files`` (see pyproject.toml); in a
# source checkout it is read from the repository root.
_PACKAGE = "stcli.preset_files"
_SOURCE_TREE = Path(__file__).resolve().parent.parent / "presets"


@dataclass(frozen=True)
class Protocol:
    """How clips and crops are taken from one video (``SampleFrames`` + resize + crop)."""

    num_clips: int
    crops: int
    short_side: int
    crop_size: int
    # False: resize straight to crop_size x crop_size (AVA), ignoring the aspect ratio.
    keep_ratio: bool = True

    @property
    def views(self) -> str:
        """The protocol as ``NxC`` (clips x crops), the form ``--views`` takes."""
        return f"{self.num_clips}x{self.crops}"


class Views(str):
    """``--views`` parsed once: the text as given (``"10x3"``, what outputs record) with
    its ``clips`` and ``crops``; a :class:`UsageError` when it is not ``NxC`` with at
    least one clip and 1 or 3 crops."""

    clips: int
    crops: int

    def __new__(cls, text: str) -> Views:
        if isinstance(text, Views):
            return text
        match = _VIEWS.match(text or "")
        if not match:
            raise UsageError(f"--views '{text}' is not of the form NxC (for example 10x3 or "
                             "1x1)")
        clips, crops = int(match.group(1)), int(match.group(2))
        if clips < 1 or crops not in (1, 3):
            raise UsageError(f"--views '{text}': need at least 1 clip and 1 or 3 crops")
        views = super().__new__(cls, text)
        views.clips, views.crops = clips, crops
        return views


@dataclass(frozen=True)
class ModelConfig:
    """Architecture settings that must match the checkpoint's tensors."""

    depth: int
    num_classes: int
    head: str
    spatial_stride: tuple[int, ...]
    pos_dim: tuple[int, ...]


@dataclass(frozen=True)
class Preset:
    """Everything stcli knows about one released checkpoint."""

    name: str
    description: str
    task: str
    labels_file: str
    weights_file: str
    weights_url: str
    model: ModelConfig
    clip_len: int
    frame_interval: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    test: Protocol
    fast: Protocol

    @property
    def labels(self) -> list[str]:
        """Class names in checkpoint output order."""
        return _read_labels(self.labels_file)

    def protocol(self, views: Views | None = None, fast: bool = False) -> Protocol:
        """The official test protocol, the fast (validation) setting, or either with
        ``views`` (clips x crops)."""
        base = self.fast if fast else self.test
        if views is None:
            return base
        clips, crops = views.clips, views.crops
        if crops == 3 and base.short_side != base.crop_size:
            raise UsageError(
                f"three crops need the short side ({base.short_side}) to equal the crop size "
                f"({base.crop_size}); use --views {clips}x1 with --fast"
            )
        return Protocol(clips, crops, base.short_side, base.crop_size)


@lru_cache(maxsize=1)
def preset_root() -> Traversable:
    """The folder holding the preset TOML files and ``labels/``."""
    try:
        return resources.files(_PACKAGE)
    except ModuleNotFoundError:
        return _SOURCE_TREE


def available_presets() -> list[str]:
    """Names of the presets shipped with stcli, sorted."""
    root = preset_root()
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


@cache
def load_preset(name: str) -> Preset:
    """Read ``presets/<name>.toml``; raise :class:`PresetError` naming the known presets."""
    names = available_presets()
    if name not in names:
        raise PresetError(f"unknown preset '{name}': choose one of {', '.join(names)}")
    source = preset_root() / f"{name}.toml"
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
        model = data["model"]
        inputs = data["input"]
        return Preset(
            name=data["name"],
            description=data["description"],
            task=data["task"],
            labels_file=data["labels"],
            weights_file=data["weights"]["file"],
            weights_url=data["weights"]["url"],
            model=ModelConfig(
                depth=int(model["depth"]),
                num_classes=int(model["num_classes"]),
                head=model["head"],
                spatial_stride=tuple(model["spatial_stride"]),
                pos_dim=tuple(model["pos_dim"]),
            ),
            clip_len=int(inputs["clip_len"]),
            frame_interval=int(inputs["frame_interval"]),
            mean=tuple(inputs["mean"]),
            std=tuple(inputs["std"]),
            test=Protocol(**data["protocol"]["test"]),
            fast=Protocol(**data["protocol"]["fast"]),
        )
    except (KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise PresetError(f"preset file {source} is malformed: {exc!r}") from exc


@cache
def _read_labels(relative: str) -> list[str]:
    text = (preset_root() / relative).read_text(encoding="utf-8")
    if relative.endswith(".pbtxt"):
        return _read_label_map(text)
    return [line.strip() for line in text.splitlines() if line.strip()]


def _read_label_map(text: str) -> list[str]:
    """A ``label { name: ... label_id: N }`` map as a list indexed by id (index 0 unused).

    The AVA head's output ``k`` is action id ``k``, so indexing by id keeps the label list
    in checkpoint output order like every other preset's.
    """
    pairs = [(int(i), n) for n, i in re.findall(r'name:\s*"([^"]*)"\s*label_id:\s*(\d+)', text)]
    if not pairs:
        raise PresetError("label map has no 'label { name: ... label_id: ... }' entries")
    names = [""] * (max(i for i, _ in pairs) + 1)
    for i, name in pairs:
        names[i] = name
    return names
