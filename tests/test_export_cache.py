"""The ONNX export cache: made once when processes start at once, an unwritable one costs
a warning (auto) or one clear error (onnxruntime asked for), and 'stcli weights list' /
'prune' show and remove exports with real exported models."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from stcli import weights
from stcli.engines.backends import OnnxEngine
from stcli.engines.onnx_export import cache_path, ensure_exported, input_shape
from stcli.presets import load_preset
from tests.conftest import UNREACHABLE, finish_all, run_stcli, start_stcli, unprivileged

pytest.importorskip("onnxruntime")
K400 = load_preset("k400")
K400_FILE = "SqueezeTime_K400_71.64.pth"


def classify_args(video: Path, checkpoint: Path, backend: str) -> list[str]:
    return ["classify", str(video), "-c", str(checkpoint), "--backend", backend,
            "--views", "1x1", "-f", "json"]


def cli_env(xdg: Path, weights_dir: Path | None = None) -> dict[str, str]:
    return {"XDG_CACHE_HOME": str(xdg), "STCLI_MIRROR": UNREACHABLE,
            "STCLI_WEIGHTS": str(weights_dir or "")}


# -- several processes at once ----------------------------------------------------------
def test_processes_starting_at_once_export_once(
    tmp_path: Path, reference_checkpoint, generated_videos,
) -> None:
    checkpoint = reference_checkpoint("k400")
    args = classify_args(generated_videos["landscape"], checkpoint, "onnxruntime")
    results = finish_all([start_stcli(*args, env=cli_env(tmp_path)) for _ in range(4)])
    tops = []
    for code, out, err in results:
        assert code == 0, err
        (record,) = json.loads(out)
        assert record["status"] == "ok"
        tops.append(record["topk"][0]["class_id"])
    assert len(set(tops)) == 1
    # One process exported; the others waited for its lock and used its file.
    assert sum("exporting k400 to ONNX" in err for _, _, err in results) == 1
    sha = weights.sha256_of(checkpoint)
    folder = tmp_path / "stcli" / "onnx"
    expected = f"k400-{sha[:16]}-16x224x224.onnx"
    # No temporary, no lock file: the export, and onnxruntime's optimized copy of it
    # (made by whichever process opened it first; the others' copies replaced it whole).
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert len(files) == 2 and files[0] == expected, files
    assert re.fullmatch(rf"optimized/{expected[:-5]}-[0-9a-f]{{16}}\.onnx", files[1]), files
    engine = OnnxEngine(folder / expected)
    assert engine.meta["weights_sha256"] == sha and engine.meta["preset"] == "k400"


# -- an unwritable cache ------------------------------------------------------------------
@dataclass
class Unwritable:
    """A run whose ONNX export folder cannot be made: its XDG_CACHE_HOME, that folder, the
    prefix stcli runs under, and the video and checkpoint it reads."""

    xdg: Path
    folder: Path
    prefix: list[str]
    video: Path
    checkpoint: Path

    def run(self, backend: str):
        args = classify_args(self.video, self.checkpoint, backend)
        return run_stcli(*args, env=cli_env(self.xdg), prefix=self.prefix)


@pytest.fixture(params=["file", "chmod"])
def unwritable(request, tmp_path: Path, reference_checkpoint, generated_videos):
    """``file``: the cache's parent is a regular file (mkdir fails even for root);
    ``chmod``: a read-only cache. Root writes into that anyway, so there stcli runs as an
    ordinary user (``unprivileged``), on copies of its inputs in a folder that user may
    read (root's pytest folders are private)."""
    video, checkpoint = generated_videos["landscape"], reference_checkpoint("k400")
    if request.param == "file":
        (tmp_path / "xdg").write_text("not a folder\n")
        yield Unwritable(tmp_path / "xdg", tmp_path / "xdg" / "stcli" / "onnx", [], video,
                         checkpoint)
        return
    prefix = unprivileged()
    base = Path(tempfile.mkdtemp(prefix="stcli-user-")) if prefix else tmp_path
    try:
        base.chmod(0o755)
        (base / "xdg" / "stcli").mkdir(parents=True)
        (base / "xdg" / "stcli").chmod(0o555)
        yield Unwritable(base / "xdg", base / "xdg" / "stcli" / "onnx", prefix,
                         Path(shutil.copy(video, base)), Path(shutil.copy(checkpoint, base)))
    finally:
        if prefix:
            shutil.rmtree(base)


def test_unwritable_cache_falls_back_to_torch_with_one_warning(unwritable) -> None:
    result = unwritable.run("auto")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["status"] == "ok"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("stcli: warning: cannot write the ONNX export cache ")
    assert str(unwritable.folder) in lines[0]
    assert "XDG_CACHE_HOME" in lines[0] and "torch backend instead" in lines[0]
    assert not unwritable.folder.exists()


def test_unwritable_cache_with_onnxruntime_asked_is_one_clear_error(unwritable) -> None:
    result = unwritable.run("onnxruntime")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"stcli: error: cannot write the ONNX export cache {unwritable.folder} (")
    assert "XDG_CACHE_HOME" in lines[0]
    assert "internal error" not in lines[0] and "Traceback" not in result.stderr


# -- weights list / prune ----------------------------------------------------------------
def k400_exports(xdg: Path, weights_dir: Path | None = None) -> list[dict]:
    result = run_stcli("weights", "list", "-f", "json", env=cli_env(xdg, weights_dir))
    assert result.returncode == 0, result.stderr
    rows = {r["preset"]: r for r in json.loads(result.stdout)}
    assert all(r["exports"] == [] for name, r in rows.items() if name != "k400")
    return rows["k400"]["exports"]


def prune(xdg: Path, *flags: str) -> list[dict]:
    result = run_stcli("weights", "prune", "-f", "json", *flags, env=cli_env(xdg))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_weights_list_and_prune_cached_exports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference_checkpoint,
) -> None:
    xdg = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    monkeypatch.setenv("STCLI_WEIGHTS", "")
    source = reference_checkpoint("k400")
    cached = weights.import_weights(K400, source)
    sha = weights.sha256_of(source)
    export = ensure_exported(K400, cached, sha)  # a real export, as a first run makes it
    assert export == cache_path(K400, sha, input_shape(K400))
    OnnxEngine(export)  # a first run also keeps onnxruntime's optimized copy of it
    (copy,) = (xdg / "stcli" / "onnx" / "optimized").glob("*.onnx")

    (listed,) = k400_exports(xdg)
    assert listed == {"preset": "k400", "file": export.name, "path": str(export),
                      "size": export.stat().st_size, "shape": "16x224x224",
                      "weights_sha256_prefix": sha[:16], "checkpoint": str(cached),
                      "stale": False}
    table = run_stcli("weights", "list", "-f", "table", env=cli_env(xdg))
    assert table.returncode == 0, table.stderr
    assert "ONNX export" in table.stdout
    assert f"{export.stat().st_size / 1e6:.1f} MB" in table.stdout
    assert prune(xdg) == []  # its checkpoint is there: kept
    assert export.is_file()

    # The checkpoint leaves the cache: in $STCLI_WEIGHTS the export is still its export...
    cached.unlink()
    (cached.parent / (K400_FILE + ".sha256")).unlink()
    folder = tmp_path / "mine"
    folder.mkdir()
    os.link(source, folder / K400_FILE)
    (in_folder,) = k400_exports(xdg, folder)
    assert in_folder["checkpoint"] == str(folder / K400_FILE) and not in_folder["stale"]

    # ... and nowhere, it is stale: listed as such, shown by --dry-run, removed by prune.
    (gone,) = k400_exports(xdg)
    assert gone == {**listed, "checkpoint": None, "stale": True}
    dry = prune(xdg, "--dry-run")
    assert dry[0] == gone and [e["file"] for e in dry[1:]] == [copy.name]
    assert export.is_file() and copy.is_file()
    dry_table = run_stcli("weights", "prune", "--dry-run", "-f", "table", env=cli_env(xdg))
    assert "would remove" in dry_table.stdout and export.is_file()
    assert prune(xdg) == dry
    assert not export.exists() and not copy.exists()
    # Nothing else either: no lock file, no optimized copy.
    assert [f for f in export.parent.rglob("*") if f.is_file()] == []
    assert prune(xdg) == [] and k400_exports(xdg) == []
