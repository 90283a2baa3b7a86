"""The library API: every public name resolves, ``import stcli`` stays light, and each
command's options are its settings object's fields with the library's own defaults."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import typer

import stcli
from stcli.cli import app
from stcli.presets import DEFAULT_PRESETS
from stcli.settings import ModelSpec

COMMANDS = {  # command -> (its settings class, the task its preset serves)
    "classify": (stcli.ClassifySettings, "recognition"),
    "localize": (stcli.LocalizeSettings, "recognition"),
    "detect": (stcli.DetectSettings, "detection"),
    "features": (stcli.FeatureSettings, "recognition"),
    "train-head": (stcli.TrainHeadSettings, "recognition"),
}


def cli_defaults(command: str) -> dict[str, object]:
    """Each option of ``stcli COMMAND`` (by parameter name) and its default."""
    group = typer.main.get_command(app)
    cmd = group.get_command(typer.Context(group), command)
    return {p.name: p.default for p in cmd.params if p.name}


def test_every_public_name_resolves() -> None:
    missing = [name for name in stcli.__all__ if not hasattr(stcli, name)]
    assert missing == []
    assert {"load_recognizer", "load_localizer", "load_detector", "load_extractor",
            "load_head_trainer", "export_model", "fit_head", "evaluate_localization",
            "evaluate_ava", "evaluate_classification", "ModelSpec", "Prediction",
            "Localization", "Detection", "Features"} <= set(stcli.__all__)


def test_import_stcli_does_not_import_torch() -> None:
    code = "import stcli, sys; stcli.LocalizeSettings(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_cli_options_are_the_settings_with_the_library_defaults(command: str) -> None:
    settings_class, task = COMMANDS[command]
    defaults = cli_defaults(command)
    names = [f.name for f in dataclasses.fields(settings_class)]
    assert set(names) <= set(defaults), "every setting is an option"
    from_cli = settings_class(**{name: defaults[name] for name in names})
    assert from_cli == settings_class()
    spec_names = [f.name for f in dataclasses.fields(ModelSpec) if f.name in defaults]
    assert {"preset", "checkpoint", "device", "backend", "precision",
            "batch_size"} <= set(spec_names)
    spec = ModelSpec(**{name: defaults[name] for name in spec_names})
    assert spec == ModelSpec(preset=DEFAULT_PRESETS[task])
