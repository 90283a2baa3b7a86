"""The suite's own promises: on CI it cannot go green by skipping what it could not find,
and every mutation of ``tests/mutants.py`` still applies to the code it names."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SHARED, SHARED_NEEDS, missing_shared
from tests.mutants import MUTATIONS, Mutation, StaleMutation, mutate


def collect(root: Path, ci: str | None) -> subprocess.CompletedProcess:
    """``pytest --collect-only`` of the copy at ``root`` with ``CI`` set to ``ci``."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "tests/test_api.py"],
                          cwd=root, env={**env, "PYTHONPATH": str(root)},
                          capture_output=True, text=True, timeout=120)


def test_ci_without_shared_fails_in_one_line(tmp_path: Path) -> None:
    root = tmp_path / "repo"  # a clone with no ../shared beside it
    shutil.copytree(REPO / "tests", root / "tests",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root)
    assert missing_shared(root.parent / "shared") == list(SHARED_NEEDS)
    done = collect(root, "true")
    assert done.returncode == 4, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"ERROR: CI=true but {root.parent / 'shared'} lacks {', '.join(SHARED_NEEDS)}: the"
        " fidelity tests need ../shared beside the repository (unset CI to run without"
        " them, skipping)"]
    # Off CI the same clone collects (and the tests that need ../shared skip).
    assert collect(root, None).returncode == 0


def test_this_checkout_has_shared_or_is_not_ci() -> None:
    assert os.environ.get("CI") != "true" or missing_shared(SHARED) == []


def test_every_mutation_applies_exactly_once(tmp_path: Path) -> None:
    names = [m.name for m in MUTATIONS]
    assert len(names) == len(set(names)) and len(MUTATIONS) >= 25
    for mutation in MUTATIONS:
        target = tmp_path / mutation.file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / mutation.file, target)
        mutate(tmp_path, mutation)  # raises StaleMutation unless found exactly once
        assert target.read_text() != (REPO / mutation.file).read_text()
        for test in mutation.tests:
            assert (REPO / test.split("::")[0]).is_file(), f"{mutation.name}: {test}"
    twice = Mutation("twice", "", "tests/twice.py", "x", "y", ())
    (tmp_path / "tests" / "twice.py").parent.mkdir(exist_ok=True)
    (tmp_path / "tests" / "twice.py").write_text("x = x\n")
    with pytest.raises(StaleMutation, match="occurs 2 times"):
        mutate(tmp_path, twice)
