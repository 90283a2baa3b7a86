"""A non-editable install ships every subpackage and the preset data."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_in_pyproject() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "stcli").rglob("__init__.py")
    }
    assert on_disk <= listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"
    assert config["package-dir"]["stcli.preset_files"] == "presets"
    data = config["package-data"]["stcli.preset_files"]
    shipped = {p.relative_to(REPO / "presets") for p in (REPO / "presets").rglob("*")
               if p.is_file() and p.suffix in (".toml", ".txt", ".pbtxt")}
    assert shipped and all(any(s.match(pattern) for pattern in data) for s in shipped)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    """.ci/run is the README's "Set up and run the tests" command, word for word, extras
    (test, ray) included: the suite CI runs is the one a contributor runs."""
    readme = (REPO / "README.md").read_text()
    command = readme.split("Set up and run the tests", 1)[1].split("```bash\n", 1)[1]
    command = command.split("\n```", 1)[0].strip()
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == command
    assert 'pip install ".[test,ray]"' in command
