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
