"""stcli.weights and ``stcli weights ...``: lookup order, downloads through a local HTTP
server, sha256 sidecars, import, and the messages for missing weights.

Only loopback addresses are contacted: $STCLI_MIRROR always points at 127.0.0.1.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stcli import weights
from stcli.errors import WeightsError
from stcli.presets import available_presets, load_preset
from tests.conftest import UNREACHABLE, finish_all, run_stcli, start_stcli

K400 = load_preset("k400")
K400_FILE = "SqueezeTime_K400_71.64.pth"


# A stored checkpoint: the file, its sidecar, and the index that spares hashing it again.
STORED = sorted([K400_FILE, K400_FILE + ".sha256", "sha256-index.json"])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _link(source: Path, dest: Path) -> None:
    """Place ``source`` at ``dest`` without copying 100+ MB when the filesystem allows."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        os.symlink(source, dest)


# -- a real HTTP server on loopback ---------------------------------------------------------
@dataclass
class Mirror:
    root: Path
    port: int
    requests: list[str] = field(default_factory=list)

    def url(self, folder: str) -> str:
        return f"http://127.0.0.1:{self.port}/{folder}/"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory, reference_checkpoint) -> Iterator[Mirror]:
    """Serves ``good/`` (the k400 reference file under its release name), ``wrong/`` (the
    k600 reference file under the k400 name) and ``empty/`` (nothing)."""
    root = tmp_path_factory.mktemp("mirror")
    _link(reference_checkpoint("k400"), root / "good" / K400_FILE)
    _link(reference_checkpoint("k600"), root / "wrong" / K400_FILE)
    (root / "empty").mkdir()
    seen: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            seen.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Mirror(root, server.server_address[1], seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Empty cache and weights folders; downloads go to an unreachable loopback mirror."""
    cache_home = tmp_path / "xdg"
    folder = tmp_path / "weights_dir"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.delenv("STCLI_WEIGHTS", raising=False)
    monkeypatch.setenv("STCLI_MIRROR", UNREACHABLE)
    return {"cache": cache_home / "stcli", "folder": folder, "xdg": cache_home}


def cli_env(paths: dict[str, Path], mirror_url: str = UNREACHABLE, weights_dir: str = "") -> dict:
    return {"XDG_CACHE_HOME": str(paths["xdg"]), "STCLI_MIRROR": mirror_url,
            "STCLI_WEIGHTS": weights_dir}


# -- cache location and lookup order ----------------------------------------------------------
def test_cache_dir_follows_xdg_cache_home(env: dict[str, Path]) -> None:
    assert weights.cache_dir() == env["cache"]


def test_cache_dir_default_is_home_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert weights.cache_dir() == tmp_path / ".cache" / "stcli"


def test_weights_url_is_release_url_or_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STCLI_MIRROR", raising=False)
    assert weights.weights_url(K400) == K400.weights_url
    assert K400.weights_url.endswith("/" + K400_FILE)
    monkeypatch.setenv("STCLI_MIRROR", "http://127.0.0.1:8000/files")
    assert weights.weights_url(K400) == "http://127.0.0.1:8000/files/" + K400_FILE
    monkeypatch.setenv("STCLI_MIRROR", "http://127.0.0.1:8000/files/")
    assert weights.weights_url(K400) == "http://127.0.0.1:8000/files/" + K400_FILE


def test_candidates_order(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    assert weights.candidates(K400) == [env["cache"] / K400_FILE]
    monkeypatch.setenv("STCLI_WEIGHTS", str(env["folder"]))
    assert weights.candidates(K400) == [env["folder"] / K400_FILE, env["cache"] / K400_FILE]


def test_lookup_order_checkpoint_then_folder_then_cache(
    env: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    in_cache = env["cache"] / K400_FILE
    in_folder = env["folder"] / K400_FILE
    given = tmp_path / "mine.pth"
    for path in (in_cache, in_folder, given):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"weights at " + str(path).encode())
    monkeypatch.setenv("STCLI_WEIGHTS", str(env["folder"]))

    assert weights.resolve_weights(K400, given, download=False) == given
    assert weights.resolve_weights(K400, str(given), download=False) == given
    assert weights.resolve_weights(K400, download=False) == in_folder
    assert weights.find_weights(K400) == in_folder
    in_folder.unlink()
    assert weights.resolve_weights(K400, download=False) == in_cache
    monkeypatch.delenv("STCLI_WEIGHTS")
    assert weights.resolve_weights(K400, download=False) == in_cache
    in_cache.unlink()
    assert weights.find_weights(K400) is None


def test_folder_without_the_file_falls_back_to_cache(
    env: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
) -> None:
    env["folder"].mkdir()
    (env["folder"] / "SomethingElse.pth").write_bytes(b"x")
    monkeypatch.setenv("STCLI_WEIGHTS", str(env["folder"]))
    in_cache = env["cache"] / K400_FILE
    in_cache.parent.mkdir(parents=True)
    in_cache.write_bytes(b"cached")
    assert weights.resolve_weights(K400, download=False) == in_cache


def test_missing_checkpoint_argument_is_an_error(env: dict[str, Path], tmp_path: Path) -> None:
    # An explicit --checkpoint never silently falls back to other weights.
    (env["cache"]).mkdir(parents=True)
    (env["cache"] / K400_FILE).write_bytes(b"cached")
    with pytest.raises(WeightsError) as info:
        weights.resolve_weights(K400, tmp_path / "nope.pth", download=False)
    assert str(tmp_path / "nope.pth") in str(info.value)
    assert info.value.exit_code == 2


def test_no_weights_and_no_download(env: dict[str, Path]) -> None:
    with pytest.raises(WeightsError) as info:
        weights.resolve_weights(K400, download=False)
    message = str(info.value)
    assert "downloads are disabled" in message
    assert UNREACHABLE + K400_FILE in message
    assert str(env["cache"] / K400_FILE) in message
    assert "\n" not in message


# -- sha256 sidecar ---------------------------------------------------------------------------
def test_recorded_sha256_verified_on_lookup(env: dict[str, Path]) -> None:
    cached = env["cache"] / K400_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"the bytes as stored")
    digest = hashlib.sha256(b"the bytes as stored").hexdigest()
    (env["cache"] / (K400_FILE + ".sha256")).write_text(f"{digest}  {K400_FILE}\n")
    assert weights.sha256_of(cached) == digest
    assert weights.recorded_sha256(cached) == digest
    assert weights.resolve_weights(K400, download=False) == cached

    cached.write_bytes(b"the bytes as stored, then changed")
    with pytest.raises(WeightsError) as info:
        weights.resolve_weights(K400, download=False)
    assert str(cached) in str(info.value)
    assert "sha256" in str(info.value)


def test_recorded_sha256_absent(env: dict[str, Path]) -> None:
    assert weights.recorded_sha256(env["cache"] / K400_FILE) is None


# -- downloads --------------------------------------------------------------------------------
def test_download_lands_in_cache_with_sidecar(
    env: dict[str, Path], mirror: Mirror, monkeypatch: pytest.MonkeyPatch, reference_checkpoint,
) -> None:
    monkeypatch.setenv("STCLI_MIRROR", mirror.url("good"))
    path = weights.resolve_weights(K400, progress=False)
    target = env["cache"] / K400_FILE
    assert path == target
    digest = sha256(reference_checkpoint("k400"))
    assert sha256(target) == digest
    sidecar = env["cache"] / (K400_FILE + ".sha256")
    assert sidecar.read_text().split()[0] == digest
    assert weights.recorded_sha256(target) == digest
    assert sorted(p.name for p in env["cache"].iterdir()) == STORED
    assert f"/good/{K400_FILE}" in mirror.requests
    # Found in the cache now: resolving again does not download again.
    before = len(mirror.requests)
    assert weights.resolve_weights(K400, progress=False) == target
    assert len(mirror.requests) == before


def test_download_of_wrong_checkpoint_is_refused_and_nothing_kept(
    env: dict[str, Path], mirror: Mirror, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STCLI_MIRROR", mirror.url("wrong"))
    with pytest.raises(WeightsError) as info:
        weights.download_weights(K400, progress=False)
    message = str(info.value)
    assert mirror.url("wrong") + K400_FILE in message
    assert "'k400'" in message
    assert "cls_head.fc_cls.weight" in message
    assert not env["cache"].exists() or list(env["cache"].iterdir()) == []
    assert weights.find_weights(K400) is None


def test_download_of_absent_file_names_url_and_path(
    env: dict[str, Path], mirror: Mirror, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STCLI_MIRROR", mirror.url("empty"))
    with pytest.raises(WeightsError) as info:
        weights.resolve_weights(K400, progress=False)
    message = str(info.value)
    assert mirror.url("empty") + K400_FILE in message
    assert str(env["cache"] / K400_FILE) in message
    assert "download failed: File not found" in message  # the server's 404 reason
    assert not env["cache"].exists() or list(env["cache"].iterdir()) == []


def test_unreachable_mirror_names_url_and_path(env: dict[str, Path]) -> None:
    with pytest.raises(WeightsError) as info:
        weights.resolve_weights(K400, progress=False)
    message = str(info.value)
    assert UNREACHABLE + K400_FILE in message
    assert str(env["cache"] / K400_FILE) in message
    assert "\n" not in message
    assert info.value.exit_code == 2
    assert not env["cache"].exists() or list(env["cache"].iterdir()) == []


# -- import -----------------------------------------------------------------------------------
def test_import_copies_and_records_sha(env: dict[str, Path], reference_checkpoint) -> None:
    source = reference_checkpoint("k400")
    path = weights.import_weights(K400, source)
    assert path == env["cache"] / K400_FILE
    assert sha256(path) == sha256(source)
    assert weights.recorded_sha256(path) == sha256(source)
    assert source.is_file()  # copied, not moved
    assert sorted(p.name for p in env["cache"].iterdir()) == STORED


# -- the CLI ----------------------------------------------------------------------------------
def test_cli_weights_list_json(env: dict[str, Path], reference_checkpoint) -> None:
    result = run_stcli("weights", "list", "--format", "json", env=cli_env(env))
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["preset"] for r in rows] == available_presets()
    assert {"k400", "k600", "hmdb51"} <= set(available_presets())
    by_name = {r["preset"]: r for r in rows}
    for name, row in by_name.items():
        assert set(row) == {"preset", "file", "path", "sha256", "url", "exports"}
        assert row["exports"] == []
        preset = load_preset(name)
        assert row["file"] == preset.weights_file
        assert row["url"] == UNREACHABLE + preset.weights_file
        assert row["path"] is None and row["sha256"] is None

    weights.import_weights(K400, reference_checkpoint("k400"))
    rows = json.loads(run_stcli("weights", "list", "-f", "json", env=cli_env(env)).stdout)
    k400 = next(r for r in rows if r["preset"] == "k400")
    assert k400["path"] == str(env["cache"] / K400_FILE)
    assert k400["sha256"] == sha256(reference_checkpoint("k400"))
    assert next(r for r in rows if r["preset"] == "k600")["path"] is None


def test_cli_weights_list_table_and_bad_format(env: dict[str, Path]) -> None:
    result = run_stcli("weights", "list", env=cli_env(env))
    assert result.returncode == 0, result.stderr
    for name in ("k400", "k600", "hmdb51"):
        assert name in result.stdout
    bad = run_stcli("weights", "list", "--format", "xml", env=cli_env(env))
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr


def test_cli_weights_path_absent_then_present(env: dict[str, Path], tmp_path: Path) -> None:
    expected = env["cache"] / K400_FILE
    absent = run_stcli("weights", "path", "k400", env=cli_env(env))
    assert absent.returncode == 1
    assert absent.stdout == f"{expected}\n"
    assert "k400" in absent.stderr

    expected.parent.mkdir(parents=True)
    expected.write_bytes(b"cached")
    present = run_stcli("weights", "path", "k400", env=cli_env(env))
    assert present.returncode == 0, present.stderr
    assert present.stdout == f"{expected}\n"

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / K400_FILE).write_bytes(b"mine")
    preferred = run_stcli("weights", "path", "k400", env=cli_env(env, weights_dir=str(folder)))
    assert preferred.returncode == 0
    assert preferred.stdout == f"{folder / K400_FILE}\n"


def test_cli_weights_path_unknown_preset(env: dict[str, Path]) -> None:
    result = run_stcli("weights", "path", "k999", env=cli_env(env))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "k999" in result.stderr and "k400" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_weights_import(env: dict[str, Path], reference_checkpoint) -> None:
    source = reference_checkpoint("k400")
    result = run_stcli("weights", "import", "k400", str(source), env=cli_env(env))
    assert result.returncode == 0, result.stderr
    target = env["cache"] / K400_FILE
    assert result.stdout == f"{target}\n"
    assert sha256(target) == sha256(source)
    assert (env["cache"] / (K400_FILE + ".sha256")).read_text().split()[0] == sha256(source)


def test_cli_weights_import_refuses_wrong_file(env: dict[str, Path], reference_checkpoint) -> None:
    result = run_stcli("weights", "import", "k400", str(reference_checkpoint("k600")),
                       env=cli_env(env))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "'k400'" in result.stderr
    assert "cls_head.fc_cls.weight" in result.stderr
    assert "Traceback" not in result.stderr
    assert not env["cache"].exists() or list(env["cache"].iterdir()) == []


def test_cli_weights_import_missing_file(env: dict[str, Path], tmp_path: Path) -> None:
    result = run_stcli("weights", "import", "k400", str(tmp_path / "nope.pth"), env=cli_env(env))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_cli_weights_download(env: dict[str, Path], mirror: Mirror, reference_checkpoint) -> None:
    result = run_stcli("weights", "download", "k400", "--quiet",
                       env=cli_env(env, mirror_url=mirror.url("good")))
    assert result.returncode == 0, result.stderr
    target = env["cache"] / K400_FILE
    assert result.stdout == f"{target}\n"
    assert sha256(target) == sha256(reference_checkpoint("k400"))
    assert weights.recorded_sha256(target) == sha256(target)
    assert sorted(p.name for p in env["cache"].iterdir()) == STORED


def test_cli_weights_download_unreachable(env: dict[str, Path]) -> None:
    result = run_stcli("weights", "download", "k400", env=cli_env(env))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert UNREACHABLE + K400_FILE in lines[0]
    assert str(env["cache"] / K400_FILE) in lines[0]


# -- several processes at once ----------------------------------------------------------------
def assert_valid_cache(cache: Path) -> str:
    """The cache holds the k400 file and its sidecar, which agree, and nothing else (no
    temporary, no lock file); the file's sha256."""
    assert sorted(p.name for p in cache.iterdir()) == STORED
    digest = sha256(cache / K400_FILE)
    assert weights.recorded_sha256(cache / K400_FILE) == digest
    return digest


COUNTER = """
import sys
from pathlib import Path
from stcli.fileio import file_lock
counter = Path(sys.argv[1])
for _ in range(25):
    with file_lock(counter):
        n = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(n + 1))  # not atomic: only the lock keeps counts from being lost
"""


def test_file_lock_makes_processes_take_turns(tmp_path: Path) -> None:
    counter = tmp_path / "cache" / "counter"
    procs = [subprocess.Popen([sys.executable, "-c", COUNTER, str(counter)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    for code, _, err in finish_all(procs):
        assert code == 0, err
    assert counter.read_text() == "100"
    assert [p.name for p in counter.parent.iterdir()] == ["counter"]  # the lock file is gone


def test_concurrent_downloads_fetch_once_and_leave_a_valid_cache(
    env: dict[str, Path], mirror: Mirror, reference_checkpoint,
) -> None:
    url = f"/good/{K400_FILE}"
    before = mirror.requests.count(url)
    procs = [start_stcli("weights", "download", "k400", "--quiet",
                         env=cli_env(env, mirror_url=mirror.url("good"))) for _ in range(4)]
    target = env["cache"] / K400_FILE
    for code, out, err in finish_all(procs):
        assert code == 0, err
        assert out == f"{target}\n"
    assert assert_valid_cache(env["cache"]) == sha256(reference_checkpoint("k400"))
    # The first to take the lock downloads; the others wait and find the file in place.
    assert mirror.requests.count(url) - before == 1


def test_concurrent_imports_leave_a_consistent_cache(
    env: dict[str, Path], tmp_path: Path, reference_checkpoint,
) -> None:
    # Two different valid k400 files imported at once: whichever lands last, its sidecar
    # must be its own (unlocked, one process's sidecar could describe the other's file).
    first = reference_checkpoint("k400")
    second = tmp_path / "k400_copy.pth"
    torch = pytest.importorskip("torch")
    checkpoint = torch.load(first, weights_only=True)
    checkpoint["meta"] = {"copy": 2}  # same tensors, other bytes
    torch.save(checkpoint, second)
    sources = [first, second, first, second]
    procs = [start_stcli("weights", "import", "k400", str(s), env=cli_env(env)) for s in sources]
    for code, out, err in finish_all(procs):
        assert code == 0, err
        assert out == f"{env['cache'] / K400_FILE}\n"
    assert assert_valid_cache(env["cache"]) in {sha256(first), sha256(second)}


def test_import_into_an_unwritable_cache_is_one_clear_error(
    tmp_path: Path, reference_checkpoint,
) -> None:
    blocker = tmp_path / "xdg"
    blocker.write_text("a file, not a folder: nothing can be made under it, even by root\n")
    result = run_stcli("weights", "import", "k400", str(reference_checkpoint("k400")),
                       env={"XDG_CACHE_HOME": str(blocker), "STCLI_WEIGHTS": ""})
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    cache = blocker / "stcli"
    assert lines[0].startswith(f"stcli: error: cannot write the weights cache {cache} (")
    assert "XDG_CACHE_HOME" in lines[0] and "internal error" not in lines[0]


# -- a checkpoint is hashed again only when it changed ---------------------------------------
def _sha_in_a_new_process(path: Path, xdg: Path) -> str:
    code = "import sys; from stcli.weights import checkpoint_sha256; " \
           "print(checkpoint_sha256(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, check=True, env={**os.environ, "XDG_CACHE_HOME": str(xdg)})
    return done.stdout.strip()


def test_a_checkpoint_is_hashed_again_only_when_its_stat_changed(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    ckpt = tmp_path / "model.pth"
    ckpt.write_bytes(b"weights v1" * 1000)
    real = sha256(ckpt)
    assert _sha_in_a_new_process(ckpt, xdg) == real
    index = xdg / "stcli" / "sha256-index.json"
    entries = json.loads(index.read_text())
    assert entries[str(ckpt.resolve())]["sha256"] == real
    # Proof that an unchanged file is not read: a planted answer is believed...
    entries[str(ckpt.resolve())]["sha256"] = "0" * 64
    index.write_text(json.dumps(entries))
    assert _sha_in_a_new_process(ckpt, xdg) == "0" * 64
    # ... but not once the file's mtime moved,
    os.utime(ckpt, ns=(ckpt.stat().st_atime_ns, ckpt.stat().st_mtime_ns + 1))
    assert _sha_in_a_new_process(ckpt, xdg) == real
    # nor for another file put in its place with the same size and mtime (a new inode).
    stat = ckpt.stat()
    entries = json.loads(index.read_text())
    entries[str(ckpt.resolve())]["sha256"] = "0" * 64
    index.write_text(json.dumps(entries))
    other = tmp_path / "other.pth"
    other.write_bytes(b"weights v2" * 1000)
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(other, ckpt)
    assert _sha_in_a_new_process(ckpt, xdg) == sha256(ckpt) != real


def test_download_progress_off_a_terminal_is_plain_lines(env: dict[str, Path],
                                                         mirror: Mirror) -> None:
    """A download's bar once wrote tqdm's carriage returns into logs."""
    result = run_stcli("weights", "download", "k400",
                       env={**cli_env(env, mirror_url=mirror.url("good")),
                            "STCLI_PROGRESS_S": "0"})
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "downloading" in line]
    assert lines and lines[-1].startswith(f"stcli: downloading {K400_FILE}: ")
    assert " MB (100%), " in lines[-1] and lines[-1].endswith(" MB/s"), lines
