"""Finding, downloading, verifying and caching checkpoint files.

Lookup order for a preset's weights: ``--checkpoint PATH``, then ``$STCLI_WEIGHTS`` (a
folder), then the cache (``$XDG_CACHE_HOME/stcli``, default ``~/.cache/stcli``). A missing
file is downloaded from the release URL (or ``$STCLI_MIRROR``, a folder URL holding the
same file names) to a temporary file beside its place, checked to load strictly against
the preset, and only then renamed into place, its sha256 recorded beside it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import CheckpointError, WeightsError
from .fileio import atomic_path, write_atomic
from .presets import Preset

_CHUNK = 1 << 20
_TIMEOUT_S = 30


def cache_dir() -> Path:
    """The download cache: ``$XDG_CACHE_HOME/stcli`` or ``~/.cache/stcli``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "stcli"


def weights_url(preset: Preset) -> str:
    """The release URL, or the same file name under ``$STCLI_MIRROR`` when set."""
    mirror = os.environ.get("STCLI_MIRROR")
    if mirror:
        return mirror.rstrip("/") + "/" + preset.weights_file
    return preset.weights_url


def candidates(preset: Preset) -> list[Path]:
    """Where the preset's file may already be, in lookup order."""
    found = []
    env = os.environ.get("STCLI_WEIGHTS")
    if env:
        found.append(Path(env).expanduser() / preset.weights_file)
    found.append(cache_dir() / preset.weights_file)
    return found


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


_HASHED: dict[tuple[str, int, int], str] = {}


def checkpoint_sha256(path: Path) -> str:
    """The checkpoint's sha256: recorded beside it by stcli, else computed once per process
    (several stages ask: the head check, the ONNX cache key, the reports)."""
    recorded = recorded_sha256(path)
    if recorded:
        return recorded
    stat = Path(path).stat()
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHED:
        _HASHED[key] = sha256_of(path)
    return _HASHED[key]


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def recorded_sha256(path: Path) -> str | None:
    """The sha256 stcli recorded when it downloaded or imported ``path``, if any."""
    side = _sidecar(path)
    if not side.is_file():
        return None
    text = side.read_text().split()
    return text[0] if text else None


def _verify_recorded(path: Path) -> None:
    expected = recorded_sha256(path)
    if expected is not None and sha256_of(path) != expected:
        raise WeightsError(
            f"{path}: sha256 differs from the one recorded when it was stored "
            f"({_sidecar(path)}); the file changed or is corrupt: delete it and run "
            "'stcli weights download'"
        )


def find_weights(preset: Preset) -> Path | None:
    """The first existing candidate file, or None."""
    return next((p for p in candidates(preset) if p.is_file()), None)


def resolve_weights(
    preset: Preset, checkpoint: str | Path | None = None, download: bool = True,
    progress: bool = True,
) -> Path:
    """The checkpoint file to load for ``preset``, downloading it on first use."""
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise WeightsError(f"{path}: checkpoint not found (given by --checkpoint)")
        return path
    found = find_weights(preset)
    if found is not None:
        _verify_recorded(found)
        return found
    if not download:
        raise WeightsError(_missing_message(preset, "downloads are disabled"))
    return download_weights(preset, progress=progress)


def _missing_message(preset: Preset, reason: str) -> str:
    target = cache_dir() / preset.weights_file
    return (
        f"weights for preset '{preset.name}' are not available ({reason}): download "
        f"{weights_url(preset)} and run 'stcli weights import {preset.name} FILE' (or put it "
        f"at {target}, set STCLI_WEIGHTS to its folder, or pass --checkpoint FILE)"
    )


def download_weights(preset: Preset, progress: bool = True, force: bool = False) -> Path:
    """Download the preset's file into the cache, verify it, record its sha256."""
    target = cache_dir() / preset.weights_file
    if target.is_file() and not force:
        return target
    url = weights_url(preset)
    with atomic_path(target) as part:
        try:
            _fetch(url, part, progress)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise WeightsError(_missing_message(preset, f"download failed: {reason}")) from exc
        try:
            _check(preset, part)
        except CheckpointError as exc:
            raise WeightsError(
                f"{url} did not give the '{preset.name}' checkpoint ({exc}); put the right "
                f"file at {target}"
            ) from exc
        digest = sha256_of(part)
    _record(target, digest)
    return target


def _fetch(url: str, dest: Path, progress: bool) -> None:
    from tqdm import tqdm  # only when downloading

    request = urllib.request.Request(url, headers={"User-Agent": "stcli"})
    with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(
            total=total, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
            desc=f"downloading {Path(url).name}", disable=not progress, leave=False,
        ) as bar:
            for block in iter(lambda: response.read(_CHUNK), b""):
                out.write(block)
                bar.update(len(block))


def _check(preset: Preset, source: Path) -> None:
    """Raise :class:`CheckpointError` unless ``source`` loads strictly into the preset."""
    # Imported here: they import torch, which 'stcli weights list/path' must not pay for.
    from .build import build_network
    from .checkpoints import check_state_dict, read_checkpoint

    check_state_dict(read_checkpoint(source), build_network(preset), preset.name, source)


def _record(target: Path, digest: str) -> None:
    """Note the sha256 of a file stcli placed, beside it."""
    write_atomic(_sidecar(target), f"{digest}  {target.name}\n")


def import_weights(preset: Preset, file: str | Path) -> Path:
    """Copy a user-supplied checkpoint into the cache after checking it strictly."""
    source = Path(file).expanduser()
    if not source.is_file():
        raise WeightsError(f"{source}: file not found")
    _check(preset, source)
    target = cache_dir() / preset.weights_file
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
        digest = sha256_of(tmp)
    _record(target, digest)
    return target


@dataclass(frozen=True)
class WeightsStatus:
    """One row of ``stcli weights list``."""

    preset: str
    file: str
    path: str | None
    sha256: str | None
    url: str


def status(preset: Preset) -> WeightsStatus:
    """Where the preset's weights are (if anywhere) and their recorded sha256."""
    found = find_weights(preset)
    return WeightsStatus(
        preset.name, preset.weights_file, str(found) if found else None,
        recorded_sha256(found) if found else None, weights_url(preset),
    )
