"""Static shell completions: the committed scripts are current, and they really complete."""

from __future__ import annotations

import copy
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from stcli import completions
from stcli.cli import app

REPO = Path(__file__).resolve().parent.parent
FOLDER = REPO / "completions"
REGENERATE = "python -m stcli.completions --write completions/"


@pytest.mark.parametrize("shell", completions.SHELLS)
def test_committed_script_is_current(shell: str) -> None:
    path = FOLDER / f"stcli.{shell}"
    assert path.is_file(), f"{path} is missing; generate it with: {REGENERATE}"
    assert path.read_text(encoding="utf-8") == completions.generate(shell), (
        f"{path.relative_to(REPO)} is stale (the CLI changed since it was generated); "
        f"regenerate the scripts with: {REGENERATE}"
    )


def test_write_all_and_module_cli(tmp_path: Path) -> None:
    written = completions.write_all(tmp_path / "out")
    assert [p.name for p in written] == ["stcli.bash", "stcli.zsh", "stcli.fish"]
    for path in written:
        assert path.read_bytes() == (FOLDER / path.name).read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "stcli.completions", "fish"], capture_output=True, text=True,
        check=True, cwd=REPO,
    )
    assert proc.stdout == (FOLDER / "stcli.fish").read_text(encoding="utf-8")


def test_generating_does_not_import_torch() -> None:
    code = ("import sys; from stcli.completions import SHELLS, generate\n"
            "[generate(s) for s in SHELLS]\n"
            "assert 'torch' not in sys.modules, 'generating completions imported torch'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_unknown_shell() -> None:
    with pytest.raises(ValueError, match="bash, zsh, fish"):
        completions.generate("tcsh")


# -- the bash script completes what a user types -----------------------------------------
@pytest.fixture
def bash_complete(tmp_path: Path):
    """``bash_complete("stcli", "cl")`` -> sorted candidates for the last word."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    (tmp_path / "clip.mp4").write_bytes(b"")
    (tmp_path / "videos").mkdir()

    def complete(*words: str) -> list[str]:
        script = "\n".join([
            f"source {shlex.quote(str(FOLDER / 'stcli.bash'))}",
            f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})",
            f"COMP_CWORD={len(words) - 1}",
            "_stcli_complete",
            'printf "%s\\n" "${COMPREPLY[@]}"',
        ])
        proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script],
                              capture_output=True, text=True, cwd=tmp_path, check=True)
        return sorted(line for line in proc.stdout.splitlines() if line)

    return complete


@pytest.mark.parametrize(("words", "expected"), [
    (("stcli", "cl"), ["classify"]),
    (("stcli", ""), ["bench", "classify", "detect", "evaluate", "export", "features",
                     "localize", "merge", "train-head", "watch", "weights"]),
    (("stcli", "watch", "--format", ""), ["jsonl", "table"]),
    (("stcli", "classify", "--backend", ""), ["auto", "onnxruntime", "openvino", "torch"]),
    (("stcli", "detect", "--precision", ""), ["bf16", "fp16", "fp32"]),
    (("stcli", "export", "--quantize", ""), ["int8"]),
    (("stcli", "export", "--format", ""), ["json", "table"]),
    (("stcli", "features", "--dtype", ""), ["float16", "float32"]),
    (("stcli", "train-head", "--format", ""), ["json", "table"]),
    (("stcli", "classify", "--pres"), ["--preset"]),
    (("stcli", "classify", "--pre"), ["--precision", "--preset"]),
    (("stcli", "classify", "--preset", ""), ["ava21", "hmdb51", "k400", "k600"]),
    (("stcli", "detect", "--detector", ""), ["hog", "onnx:"]),
    (("stcli", "evaluate", ""), ["ava", "classification", "localization"]),
    (("stcli", "evaluate", "ava", "--format", ""), ["csv", "json", "table"]),
    (("stcli", "classify", "-p", "k4"), ["k400"]),
    (("stcli", "classify", "--device", ""), ["auto", "cpu", "cuda"]),
    (("stcli", "classify", "--format", "js"), ["json", "jsonl"]),
    (("stcli", "classify", "--format", "=", ""), ["csv", "json", "jsonl", "table"]),
    (("stcli", "classify", "--top-k", ""), []),
    (("stcli", "classify", "-p", "k400", ""), ["clip.mp4", "videos"]),
    (("stcli", "classify", "--report-dir", ""), ["videos"]),
    (("stcli", "weights", ""), ["download", "import", "list", "path", "prune"]),
    (("stcli", "weights", "prune", "--"), ["--dry-run", "--format", "--help"]),
    (("stcli", "--debug", "weights", "l"), ["list"]),
    (("stcli", "weights", "list", "-f", ""), ["json", "table"]),
    (("stcli", "weights", "path", ""), ["ava21", "hmdb51", "k400", "k600"]),
    (("stcli", "weights", "import", "k400", ""), ["clip.mp4", "videos"]),
    (("stcli", "weights", "download", "--"), ["--force", "--help", "--quiet"]),
])
def test_bash_completes(bash_complete, words: tuple[str, ...], expected: list[str]) -> None:
    assert bash_complete(*words) == expected


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_script_syntax(shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed; cannot check stcli.{shell}'s syntax")
    proc = subprocess.run([shell, "-n", str(FOLDER / f"stcli.{shell}")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_fish_completes() -> None:
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed")
    script = (f"source {shlex.quote(str(FOLDER / 'stcli.fish'))}; "
              "complete -C 'stcli weights '; complete -C 'stcli classify --preset '")
    proc = subprocess.run(["fish", "--no-config", "-c", script], capture_output=True,
                          text=True, check=True)
    assert [line.split("\t")[0] for line in proc.stdout.splitlines()] == [
        "download", "import", "list", "path", "prune", "ava21", "hmdb51", "k400", "k600"]


# -- the staleness check bites --------------------------------------------------------------
def test_new_option_changes_every_script() -> None:
    tree = typer.main.get_command(app)
    classify = tree.commands["classify"]
    views = next(p for p in classify.params if p.name == "views")
    stride = copy.copy(views)  # a new value-taking option of the same kind
    stride.name, stride.opts, stride.help = "stride", ["--stride"], "Frames between clips."
    classify.params.append(stride)
    for shell in completions.SHELLS:
        changed = completions.generate(shell, tree)
        assert changed != completions.generate(shell), shell
        assert "--stride" in changed or "-l stride" in changed, shell


def test_new_preset_changes_scripts(monkeypatch: pytest.MonkeyPatch) -> None:
    before = completions.generate("bash")
    monkeypatch.setattr("stcli.presets.available_presets", lambda: ["k400", "k700"])
    after = completions.generate("bash")
    assert after != before
    assert "'k400 k700'" in after
