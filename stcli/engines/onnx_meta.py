"""The ``stcli.*`` metadata of exported ONNX models: reading it from an onnxruntime
session, writing it into a model file. Imports no other stcli module, so that engines,
the exporter and the quantizer can all use it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

META_PREFIX = "stcli."


def is_onnx(path: str | Path | None) -> bool:
    """Whether ``path`` names an ONNX model (by its suffix, as ``--checkpoint`` tells)."""
    return path is not None and Path(path).suffix.lower() == ".onnx"


def read_metadata(session: Any) -> dict[str, Any]:
    """The ``stcli.*`` metadata of an onnxruntime session's model, JSON values decoded."""
    return decode_metadata(session.get_modelmeta().custom_metadata_map)


def decode_metadata(raw: Mapping[str, str]) -> dict[str, Any]:
    """The ``stcli.*`` entries of a model's metadata (key -> string), JSON values decoded."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key.startswith(META_PREFIX):
            try:
                out[key[len(META_PREFIX):]] = json.loads(value)
            except json.JSONDecodeError:
                out[key[len(META_PREFIX):]] = value
    return out


def set_metadata(path: Path, updates: dict[str, Any],
                 producer: tuple[str, str] | None = None) -> None:
    """Add or replace ``stcli.*`` metadata entries of the model at ``path``, in place
    (strings as they are, anything else as JSON); ``producer`` (name, version) also names
    the model's producer."""
    import onnx  # optional extra, and slow to import

    proto = onnx.load(str(path))
    current = {p.key: p.value for p in proto.metadata_props}
    for key, value in updates.items():
        current[META_PREFIX + key] = value if isinstance(value, str) else json.dumps(value)
    del proto.metadata_props[:]
    for key, value in current.items():
        proto.metadata_props.add(key=key, value=value)
    if producer is not None:
        proto.producer_name, proto.producer_version = producer
    onnx.save(proto, str(path))


def copy_metadata(source: Path, target: Path, updates: dict[str, Any]) -> None:
    """Give ``target`` the ``stcli.*`` metadata of ``source``, with ``updates`` applied."""
    import onnx  # optional extra, and slow to import

    meta = {p.key[len(META_PREFIX):]: p.value
            for p in onnx.load(str(source), load_external_data=False).metadata_props
            if p.key.startswith(META_PREFIX)}
    set_metadata(target, meta | updates)
