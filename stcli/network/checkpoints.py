"""Safe checkpoint loading, key normalization and strict validation against a preset.

Nothing in a checkpoint is ever executed. Pickled files are read with
``torch.load(weights_only=True)``; mmengine checkpoints whose ``meta`` holds objects that
this refuses (numpy scalars, mmengine's HistoryBuffer, ...) are read again with a
restricted unpickler that rebuilds tensors and replaces every other class with an inert
placeholder, importing nothing.
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import CheckpointError

# Containers that official and third-party tools wrap a state dict in, outermost first.
_WRAPPER_KEYS = ("state_dict", "model", "module", "model_state", "net")
_MAX_NAMED = 5  # offenders named in one error line


class _Inert:
    """Stands in for any class a checkpoint names that we do not trust."""

    def __new__(cls, *args: object, **kwargs: object) -> _Inert:
        return object.__new__(cls)

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __setstate__(self, state: object) -> None:
        pass


def _placeholder(module: str, name: str) -> type:
    return type(name, (_Inert,), {"__module__": f"stcli.inert.{module}"})


# The only globals the restricted unpickler resolves to real objects: what torch's own
# serializer needs to rebuild tensors and parameters. Everything else becomes _Inert.
_TRUSTED = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch", "Size"): torch.Size,
}
_TRUSTED.update(
    {("torch", n): getattr(torch, n) for n in dir(torch) if n.endswith("Storage")}
)
_TRUSTED.update(
    {("torch", n): v for n in dir(torch) if isinstance(v := getattr(torch, n), torch.dtype)}
)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        trusted = _TRUSTED.get((module, name))
        return trusted if trusted is not None else _placeholder(module, name)


# torch.load accepts any object with ``Unpickler`` and ``load`` as its pickle module.
_restricted_pickle = SimpleNamespace(
    Unpickler=_RestrictedUnpickler,
    load=lambda f, **kw: _RestrictedUnpickler(f, **kw).load(),
    __name__="stcli_restricted_pickle",
)


def read_checkpoint(path: str | Path) -> dict[str, Tensor]:
    """Read a checkpoint file into a flat ``{key: tensor}`` dict with normalized keys.

    Accepts mmengine files (``{"meta", "state_dict", ...}``), bare state dicts,
    ``{"model": ...}``, ``module.``-prefixed keys and ``.safetensors`` files.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: checkpoint is empty (0 bytes); download it again")
    if path.suffix == ".safetensors":
        raw = _read_safetensors(path)
    else:
        raw = _read_pickle(path)
    return normalize_state_dict(raw, source=path)


def _read_safetensors(path: Path) -> dict[str, Tensor]:
    from safetensors import SafetensorError  # only .safetensors files need it
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable .safetensors file ({exc})") from exc


def _read_pickle(path: Path) -> Any:
    # Zip-format files (torch >= 1.6) are memory-mapped: tensors are not copied on load.
    mmap = zipfile.is_zipfile(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError:
        pass  # objects beyond tensors (mmengine meta): retry with inert placeholders
    except Exception as exc:  # noqa: BLE001 - torch raises many types for non-checkpoints
        raise CheckpointError(
            f"{path}: not a PyTorch checkpoint (neither a torch zip archive nor a pickle)"
        ) from exc
    try:
        return torch.load(
            path, map_location="cpu", weights_only=False, pickle_module=_restricted_pickle,
            mmap=mmap,
        )
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({_short(exc)})") from exc


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def normalize_state_dict(obj: Any, source: object = "checkpoint") -> dict[str, Tensor]:
    """Unwrap container dicts and strip ``module.`` prefixes; keep tensors only."""
    for _ in range(len(_WRAPPER_KEYS) + 1):
        if not isinstance(obj, Mapping):
            break
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None or any(isinstance(v, Tensor) for v in obj.values()):
            break
        obj = inner
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source}: holds no state dict (found {type(obj).__name__})")
    state = {}
    for key, value in obj.items():
        if not isinstance(value, Tensor):
            continue
        while key.startswith("module."):
            key = key[len("module.") :]
        state[key] = value
    if not state:
        raise CheckpointError(f"{source}: holds no tensors; is this a model checkpoint?")
    return state


def check_state_dict(
    state: Mapping[str, Tensor], model: nn.Module, preset: str, source: object
) -> None:
    """Raise :class:`CheckpointError` unless ``state`` matches ``model`` key for key.

    ``num_batches_tracked`` buffers may be absent (some exporters drop them; inference
    never reads them); anything else missing, unexpected or mis-shaped is an error.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", shapes)):
        if items:
            more = f" (+{len(items) - _MAX_NAMED} more)" if len(items) > _MAX_NAMED else ""
            problems.append(f"{len(items)} {label}: {', '.join(items[:_MAX_NAMED])}{more}")
    if problems:
        raise CheckpointError(
            f"{source}: does not match preset '{preset}': {'; '.join(problems)}. "
            f"Use the checkpoint released for '{preset}' or pick the preset that fits it."
        )


def load_into(model: nn.Module, state: Mapping[str, Tensor], preset: str, source: object) -> None:
    """Validate ``state`` strictly and make its tensors ``model``'s own.

    The model may live on the meta device (built without initializing weights): tensors
    are assigned, not copied, converted only where the checkpoint's dtype differs.
    """
    check_state_dict(state, model, preset, source)
    full = {}
    for key, expected in model.state_dict().items():
        value = state.get(key)
        if value is None:  # a num_batches_tracked buffer the exporter dropped
            value = torch.zeros(expected.shape, dtype=expected.dtype)
        full[key] = value if value.dtype == expected.dtype else value.to(expected.dtype)
    model.load_state_dict(full, strict=True, assign=True)
