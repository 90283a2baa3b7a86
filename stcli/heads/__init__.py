"""Custom classifier heads: a linear layer trained on pooled backbone features.

A head replaces SqueezeTime's ``fc_cls`` (2048-d pooled feature -> class logits) so that
the backbone recognizes a user's own classes. ``fit_head`` fits it on features of
labelled clips, ``save_head`` writes it as a ``NAME.head`` folder (``head.safetensors``
for the tensors, ``head.json`` for labels and provenance) and ``load_head`` reads one
back, executing nothing.
"""

from __future__ import annotations

# The parts, re-exported: what the tasks, the loader and the tests use by this name.
from .files import FORMAT as FORMAT
from .files import INFO_FILE as INFO_FILE
from .files import TENSORS_FILE as TENSORS_FILE
from .files import check_head_target as check_head_target
from .files import load_head as load_head
from .files import save_head as save_head
from .head import Head as Head
from .head import TrainingReport as TrainingReport
from .head import _fold as _fold
from .head import fit_head as fit_head
from .head import split_groups as split_groups
