"""Finding, downloading, verifying and caching checkpoint files.

Lookup order for a preset's weights: ``--checkpoint PATH``, then ``$STCLI_WEIGHTS`` (a
folder), then the cache (``$XDG_CACHE_HOME/stcli``, default ``~/.cache/stcli``). A missing
file is downloaded from the release URL (or ``$STCLI_MIRROR``, a folder URL holding the
same file names) to a temporary file beside its place, checked to load strictly against
the preset, and only then renamed into place, its sha256 recorded beside it.

Every change to a cached file and its ``.sha256`` sidecar (download, import) and every
check of one against the other happens under the file's lock (``fileio.file_lock``):
processes starting at once on an empty cache download once, one after the other finding
the file in place, and never see a file with another file's sidecar.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import CheckpointError, WeightsError, unwritable_cache
from .fileio import atomic_path, file_lock, write_atomic
from .network.hashes import file_sha256, remember, sha256_of
from .presets import Preset
from .progress import progress_bar

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


def _hash_index() -> Path:
    return cache_dir() / "sha256-index.json"


def checkpoint_sha256(path: Path) -> str:
    """The checkpoint's sha256 (several stages ask: the head check, the ONNX cache key,
    the reports), read again only when the file's size, mtime or inode changed since it
    was last hashed (``hashes``)."""
    return file_sha256(path, _hash_index())


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
    if recorded_sha256(path) is None:
        return  # a file the user placed: nothing to check it against
    # Under the lock: a download or import replacing the file renames it and then writes
    # its sidecar; between the two the pair disagrees.
    with file_lock(path, optional=True):
        expected = recorded_sha256(path)
        if expected is None or checkpoint_sha256(path) == expected:
            return
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

    def fetch(part: Path) -> None:
        try:
            _fetch(url, part, progress)
        except (OSError, ValueError) as exc:  # urllib's URLError is an OSError
            reason = getattr(exc, "reason", None) or exc
            raise WeightsError(_missing_message(preset, f"download failed: {reason}")) from exc
        try:
            _check(preset, part)
        except CheckpointError as exc:
            raise WeightsError(
                f"{url} did not give the '{preset.name}' checkpoint ({exc}); put the right "
                f"file at {target}"
            ) from exc

    return _store(target, fetch, replace=force)


def _store(target: Path, fill: Callable[[Path], None], replace: bool) -> Path:
    """Place a checked file at ``target`` with its sidecar, under the file's lock.

    ``fill`` writes and checks the new file at the temporary path it is given (raising
    leaves nothing behind). Unless ``replace``, a file another process stored while this
    one waited for the lock is kept as it is.
    """
    try:
        with file_lock(target):
            if target.is_file() and not replace:
                return target
            with atomic_path(target) as part:
                fill(part)
                digest = sha256_of(part)
                # A reader that does not lock (the sha256 a report names) may look between
                # the rename and the new sidecar: no sidecar then, rather than the old one.
                _sidecar(target).unlink(missing_ok=True)
            # After the file: the sidecar describes the file in place, written atomically.
            _record(target, digest)
            remember(target, digest, _hash_index())  # its first use need not read it again
    except OSError as exc:
        raise unwritable_cache("weights", target.parent, exc) from exc
    return target


def _fetch(url: str, dest: Path, progress: bool) -> None:
    import urllib.request  # ~12 ms of imports, for the rare run that downloads

    request = urllib.request.Request(url, headers={"User-Agent": "stcli"})
    with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        bar = progress_bar(total, not progress, f"downloading {Path(url).name}", "B",
                           leave=False)
        try:
            for block in iter(lambda: response.read(_CHUNK), b""):
                out.write(block)
                bar.update(len(block))
        finally:
            bar.close()


def _check(preset: Preset, source: Path) -> None:
    """Raise :class:`CheckpointError` unless ``source`` loads strictly into the preset."""
    # Imported here: they import torch, which 'stcli weights list/path' must not pay for.
    from .network.build import build_network
    from .network.checkpoints import check_state_dict, read_checkpoint

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
    # The user's file replaces whatever is cached: importing is how a cache is repaired.
    return _store(cache_dir() / preset.weights_file,
                  lambda tmp: shutil.copyfile(source, tmp), replace=True)


# -- the ONNX export cache --------------------------------------------------------------
# Named here, without torch, so that 'stcli weights list/prune' can read it cheaply; the
# exports themselves are made by ``onnx_export``.
_EXPORT_NAME = re.compile(r"(?P<preset>.+)-(?P<sha>[0-9a-f]{16})-(?P<shape>\d+x\d+x\d+)\.onnx")


def exports_dir() -> Path:
    """Where onnxruntime's exports of checkpoints are cached: ``<cache>/onnx``."""
    return cache_dir() / "onnx"


def export_path(preset: str, weights_sha256: str, shape: tuple[int, ...]) -> Path:
    """The cached export of the checkpoint with this sha256 for clips of ``shape``
    (T, H, W): the key is the checkpoint's hash *and* the input size."""
    return exports_dir() / f"{preset}-{weights_sha256[:16]}-{'x'.join(map(str, shape))}.onnx"


@dataclass(frozen=True)
class ExportStatus:
    """One cached ONNX export, as ``stcli weights list`` and ``prune`` show it."""

    preset: str
    file: str
    path: str
    size: int
    shape: str  # T x H x W of the clips it takes, e.g. "16x224x224"
    weights_sha256_prefix: str  # the first 16 hex digits: what its name keeps
    checkpoint: str | None  # the present checkpoint file it was made from, if any
    stale: bool  # its checkpoint is gone: nothing would use it again ('prune' removes it)


def present_checkpoints() -> dict[str, Path]:
    """sha256 -> file of every preset's checkpoint present in ``$STCLI_WEIGHTS`` or the
    cache (recorded sha256 where stcli stored it, computed otherwise)."""
    from .presets import available_presets, load_preset  # presets are data: read when asked

    found: dict[str, Path] = {}
    for name in available_presets():
        for path in candidates(load_preset(name)):
            if path.is_file():
                found.setdefault(checkpoint_sha256(path), path)
    return found


def cached_exports() -> list[ExportStatus]:
    """The exports in the cache (files named as :func:`export_path` names them), each
    with the present checkpoint it was made from, if any."""
    folder = exports_dir()
    paths = sorted(folder.glob("*.onnx")) if folder.is_dir() else []
    named = [(p, m) for p in paths if (m := _EXPORT_NAME.fullmatch(p.name))]
    if not named:
        return []  # no checkpoint is hashed when there is nothing to match
    sources = {sha[:16]: path for sha, path in present_checkpoints().items()}
    found = []
    for path, match in named:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue  # pruned by another process meanwhile
        source = sources.get(match["sha"])
        found.append(ExportStatus(match["preset"], path.name, str(path), size, match["shape"],
                                  match["sha"], str(source) if source else None, source is None))
    return found


def prune_exports(dry_run: bool = False) -> list[ExportStatus]:
    """Remove the exports whose checkpoint is no longer present, and onnxruntime's
    optimized copies of them (``dry_run``: only say which); exports of ``--checkpoint``
    files elsewhere count as gone: the next run with that file exports it again."""
    exports = cached_exports()
    stale = [e for e in exports if e.stale]
    kept = {Path(e.path).stem for e in exports if not e.stale}
    # onnxruntime's optimized copies of exports (``engines.optimized_copy``) go with them.
    copies = sorted((exports_dir() / "optimized").glob("*.onnx"))
    for copy in copies:
        match = _EXPORT_NAME.fullmatch(copy.stem.rpartition("-")[0] + ".onnx")
        if match and copy.stem.rpartition("-")[0] not in kept:
            stale.append(ExportStatus(match["preset"], copy.name, str(copy), copy.stat().st_size,
                                      match["shape"], match["sha"], None, True))
    if not dry_run:
        try:
            for export in stale:
                with file_lock(export.path):  # not from under a process exporting it now
                    Path(export.path).unlink(missing_ok=True)
        except OSError as exc:
            raise unwritable_cache("ONNX export", exports_dir(), exc) from exc
    return stale


# -- status -------------------------------------------------------------------------------
@dataclass(frozen=True)
class WeightsStatus:
    """One row of ``stcli weights list``."""

    preset: str
    file: str
    path: str | None
    sha256: str | None
    url: str
    exports: tuple[ExportStatus, ...] = ()  # the preset's cached ONNX exports


def status(preset: Preset, exports: list[ExportStatus] | None = None) -> WeightsStatus:
    """Where the preset's weights are (if anywhere), their recorded sha256, and the
    preset's exports among ``exports`` (default: the cache's)."""
    found = find_weights(preset)
    exports = cached_exports() if exports is None else exports
    return WeightsStatus(
        preset.name, preset.weights_file, str(found) if found else None,
        recorded_sha256(found) if found else None, weights_url(preset),
        tuple(e for e in exports if e.preset == preset.name),
    )
