"""A linear head on pooled SqueezeTime features: the ``Head`` itself and its fitting
(grouped train/validation split, class-balanced softmax regression, early stopping)."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from ..errors import UsageError
from ..version import __version__

_MIN_GROUPS = 2  # a class needs one clip to train on and one to validate with


_MIN_DELTA = 1e-4  # relative loss improvement that resets early stopping's patience


@dataclass(frozen=True, eq=False)  # eq=False: field-wise == is ambiguous on arrays
class Head:
    """A linear classifier on raw pooled features: ``logits = features @ weight.T + bias``.

    ``background`` names a label used only to reject windows in localization (never
    reported as a segment). ``meta`` holds provenance: preset, backbone_sha256, training
    settings and report, creation time, stcli version.
    """

    weight: np.ndarray  # (C, D) float32
    bias: np.ndarray  # (C,) float32
    labels: list[str]
    background: str | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        # Own read-only float32 copies: a frozen head must not change under its user.
        for name in ("weight", "bias"):
            array = np.array(getattr(self, name), dtype=np.float32)
            array.flags.writeable = False
            object.__setattr__(self, name, array)
        object.__setattr__(self, "labels", [str(label) for label in self.labels])
        if self.weight.ndim != 2 or self.bias.shape != (self.weight.shape[0],):
            raise UsageError(f"head weight {self.weight.shape} and bias {self.bias.shape} do "
                             "not form a linear layer: expected (C, D) and (C,)")
        if len(self.labels) != self.weight.shape[0]:
            raise UsageError(f"head has {len(self.labels)} labels for "
                             f"{self.weight.shape[0]} outputs")
        if len(set(self.labels)) != len(self.labels):
            repeated = sorted(k for k, n in Counter(self.labels).items() if n > 1)
            raise UsageError(f"head labels repeat: {', '.join(repeated)}")
        if self.background is not None and self.background not in self.labels:
            raise UsageError(f"background '{self.background}' is not one of the head's labels")
        if not (np.isfinite(self.weight).all() and np.isfinite(self.bias).all()):
            raise UsageError("head holds non-finite weights (NaN or inf)")

    @property
    def feature_dim(self) -> int:
        """D, the length of the feature vectors the head takes."""
        return int(self.weight.shape[1])

    def logits(self, features: np.ndarray) -> np.ndarray:
        """Class logits (float32) of ``(N, D)`` features, or of one ``(D,)`` feature."""
        features = np.asarray(features, dtype=np.float32)
        if features.shape[-1:] != (self.feature_dim,):
            raise UsageError(f"features of shape {features.shape} do not fit a head on "
                             f"{self.feature_dim}-d features")
        return features @ self.weight.T + self.bias


@dataclass(frozen=True)
class TrainingReport:
    """How training went. Accuracies are per feature row; groups are clips/videos."""

    labels: list[str]
    train_samples: int
    val_samples: int
    train_groups: int
    val_groups: int
    epochs: int
    best_epoch: int
    val_accuracy: float | None  # None without a validation split
    train_accuracy: float
    per_class: list[dict[str, Any]]  # label, train_groups, val_groups, val_accuracy
    confusion: list[list[int]]  # validation rows: true label; columns: predicted
    class_weights: list[float]
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field."""
        return dataclasses.asdict(self)


def split_groups(
    labels: Sequence[str], groups: Sequence[Any] | None = None, *, val_fraction: float = 0.2,
    seed: int = 0,
) -> np.ndarray:
    """Boolean mask of the rows that go to validation, chosen by whole groups.

    Stratified: each label sends ``round(val_fraction * its groups)`` groups to validation
    (at least 1 when it has 2 or more, and always leaves 1 for training); a label with one
    group trains only. Drawn with ``np.random.default_rng(seed)``, labels in sorted order.
    """
    _, group_index, _, group_label = _index(labels, groups)
    return _split(group_label, val_fraction, seed)[group_index]


def _split(group_label: np.ndarray, val_fraction: float, seed: int) -> np.ndarray:
    """Per group (given its class index): whether it goes to validation."""
    if not 0 <= val_fraction < 1:
        raise UsageError(f"val_fraction {val_fraction} must be at least 0 and below 1")
    rng = np.random.default_rng(seed)
    val_group = np.zeros(len(group_label), dtype=bool)
    for c in np.unique(group_label):
        members = np.flatnonzero(group_label == c)  # in order of first appearance
        if val_fraction == 0 or len(members) < _MIN_GROUPS:
            continue
        # Half up, not Python's half-to-even: 2.5 clips -> 3 whatever the parity.
        count = min(max(math.floor(val_fraction * len(members) + 0.5), 1), len(members) - 1)
        val_group[members[rng.permutation(len(members))[:count]]] = True
    return val_group


def fit_head(
    features: np.ndarray, labels: Sequence[str], groups: Sequence[Any] | None = None, *,
    val_fraction: float = 0.2, seed: int = 0, weight_decay: float = 1e-4,
    max_epochs: int = 300, patience: int = 30, lr: float = 1e-2,
    background: str | None = None, meta: dict[str, Any] | None = None,
) -> tuple[Head, TrainingReport]:
    """Fit a linear softmax classifier on ``(N, D)`` features of labelled rows.

    ``groups`` gives each row's clip or video (rows from one group never straddle the
    train/validation split; default: every row its own group). Labels, sorted, become
    the head's classes. Features are standardized with the training split's statistics,
    then a zero-initialized linear layer is trained full-batch with AdamW on a weighted
    cross-entropy: every class weighs the same in total (inverse group frequency), and
    within a class every group does (its rows share one group's weight). Training stops
    when the validation loss (the training loss with ``val_fraction=0``) has not improved
    by 0.01% for ``patience`` epochs, and keeps the best epoch's weights. The
    standardization is folded into the returned head, a plain linear layer on raw
    features. Deterministic: the split depends on ``seed`` only, and training has no
    randomness (zero start, full batch).
    """
    x = np.asarray(features)
    if x.ndim != 2 or x.shape[0] != len(labels) or x.shape[1] == 0:
        raise UsageError(f"features of shape {x.shape} do not fit {len(labels)} labels: "
                         "expected (N, D) with one row per label")
    bad_rows = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if len(bad_rows):
        raise UsageError(f"features hold NaN or inf at {len(bad_rows)} row(s), first "
                         f"{bad_rows[0]}; extract them again")
    if not (max_epochs >= 1 and patience >= 1 and lr > 0 and weight_decay >= 0):
        raise UsageError(f"max_epochs ({max_epochs}) and patience ({patience}) must be at "
                         f"least 1, lr ({lr}) positive, weight_decay ({weight_decay}) >= 0")
    y, group_index, classes, group_label = _index(labels, groups)
    if background is not None and background not in classes:
        raise UsageError(f"background '{background}' is not one of the labels: "
                         f"{', '.join(classes)}")
    warnings = _check_classes(classes, np.bincount(group_label, minlength=len(classes)))
    val = _split(group_label, val_fraction, seed)[group_index]
    train = ~val

    mean = x[train].mean(axis=0, dtype=np.float64)
    std = x[train].std(axis=0, dtype=np.float64)
    # Constant (or nearly) dimensions keep scale 1: dividing by ~0 would blow their noise
    # up. With a zero start they get no gradient, so their weights stay 0.
    scale = np.where(std > 1e-6 * max(float(std.mean()), 1e-30), std, 1.0)
    z = ((x - mean) / scale).astype(np.float32)

    train_weights, class_weights = _weights(y, group_index, train, len(classes))
    val_weights = _weights(y, group_index, val, len(classes))[0] if val.any() else None
    with _one_thread():
        fitted, epochs, best_epoch = _fit(
            z, y, train, train_weights, val, val_weights,
            lr=lr, weight_decay=weight_decay, max_epochs=max_epochs, patience=patience,
        )
    w_raw, b_raw = _fold(*fitted, mean, scale)
    report = _report(x, y, group_index, train, Head(w_raw, b_raw, classes), class_weights,
                     epochs, best_epoch, warnings)
    settings = {"optimizer": "AdamW", "lr": lr, "weight_decay": weight_decay,
                "max_epochs": max_epochs, "patience": patience, "val_fraction": val_fraction,
                "seed": seed, "standardized": True}
    full_meta = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "stcli_version": __version__, **(meta or {}), "training": settings,
                 "report": report.to_dict()}
    return Head(w_raw, b_raw, classes, background, full_meta), report


def _index(
    labels: Sequence[str], groups: Sequence[Any] | None
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Class index per row, group index per row, sorted class names, class per group."""
    names = [str(label) for label in labels]
    empty = [i for i, name in enumerate(names) if not name.strip()]
    if empty:
        raise UsageError(f"{len(empty)} row(s) have an empty label, first row {empty[0]}")
    classes = sorted(set(names))
    class_of = {name: c for c, name in enumerate(classes)}
    y = np.array([class_of[name] for name in names], dtype=np.int64)
    if groups is None:
        return y, np.arange(len(y)), classes, y.copy()
    if len(groups) != len(names):
        raise UsageError(f"{len(groups)} groups for {len(names)} labelled rows: give one "
                         "group per row")
    group_of: dict[Any, int] = {}
    try:
        group_index = np.array([group_of.setdefault(g, len(group_of)) for g in groups],
                               dtype=np.int64)
    except TypeError as exc:
        raise UsageError(f"group ids must be hashable (strings or numbers): {exc}") from None
    group_label = np.empty(len(group_of), dtype=np.int64)
    group_label[group_index] = y
    for row in np.flatnonzero(group_label[group_index] != y)[:1]:
        raise UsageError(
            f"group {groups[row]!r} has rows labelled '{classes[y[row]]}' and "
            f"'{classes[group_label[group_index[row]]]}': a group is one clip or video of "
            "one class; give each labelled segment its own group")
    return y, group_index, classes, group_label


def _check_classes(classes: list[str], group_counts: np.ndarray) -> list[str]:
    """Raise unless 2 classes have 2+ groups; warnings for classes with one group."""
    if len(classes) < 2:
        raise UsageError(f"need at least 2 classes, all rows are '{classes[0]}'" if classes
                         else "no labelled features to train on")
    if (group_counts >= _MIN_GROUPS).sum() < 2:
        few = [f"'{name}' ({n})" for name, n in zip(classes, group_counts, strict=True)
               if n < _MIN_GROUPS]
        raise UsageError(f"need at least 2 classes with at least {_MIN_GROUPS} clips each; "
                         f"too few clips for {', '.join(few)}: add labelled clips")
    return [f"label '{name}' has only 1 clip: it is used for training only, so its "
            "validation accuracy is unknown; add clips of it"
            for name, n in zip(classes, group_counts, strict=True) if n == 1]


def _weights(y: np.ndarray, group_index: np.ndarray, rows: np.ndarray,
             num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Loss weights of ``rows`` (summing to 1) and the class weights behind them.

    Class weights are the inverse group frequency among ``rows``, mean 1 over the classes
    present; a row gets its class weight over its group's row count, so a video sampled
    ten times counts as much as one sampled once.
    """
    _, first_rows = np.unique(group_index[rows], return_index=True)
    groups_per_class = np.bincount(y[rows][first_rows], minlength=num_classes).astype(float)
    inverse = np.divide(1.0, groups_per_class, out=np.zeros(num_classes),
                        where=groups_per_class > 0)
    class_weights = inverse / inverse[groups_per_class > 0].mean()
    rows_per_group = np.bincount(group_index[rows], minlength=int(group_index.max()) + 1)
    weights = class_weights[y[rows]] / rows_per_group[group_index[rows]]
    return (weights / weights.sum()).astype(np.float32), class_weights


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch single-threaded inside, restoring the caller's setting after.

    Each step is a few small ops on at most a few thousand rows: thread fan-out gains
    little there, and on a busy machine every op waits for descheduled worker threads
    (measured on 2 shared cores: 10 ms an epoch on one thread, 60 ms on two).
    """
    import torch  # training only: heads are read and applied without it

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _fit(
    z: np.ndarray, y: np.ndarray, train: np.ndarray, train_weights: np.ndarray,
    val: np.ndarray, val_weights: np.ndarray | None, *, lr: float, weight_decay: float,
    max_epochs: int, patience: int,
) -> tuple[tuple[np.ndarray, np.ndarray], int, int]:
    """Train on standardized rows; return the best (weight, bias), epochs run, best epoch.
    The ``val`` rows' loss picks the best epoch (the training loss when there are none)."""
    import torch  # training only: heads are read and applied without it

    rows = {name: (torch.from_numpy(z[mask]), torch.from_numpy(y[mask]), torch.from_numpy(w))
            for name, mask, w in (("train", train, train_weights), ("val", val, val_weights))
            if w is not None}
    # Zero start: the problem is convex, so nothing is lost, there is no randomness to
    # seed, and dimensions that carry no signal keep exactly-zero weights.
    weight = torch.zeros(int(y.max()) + 1, z.shape[1], requires_grad=True)
    bias = torch.zeros(weight.shape[0], requires_grad=True)
    optimizer = torch.optim.AdamW([{"params": [weight], "weight_decay": weight_decay},
                                   {"params": [bias], "weight_decay": 0.0}], lr=lr)

    def loss(x: torch.Tensor, target: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        ce = torch.nn.functional.cross_entropy(x @ weight.T + bias, target, reduction="none")
        return (ce * w).sum()

    best, best_epoch, best_state = math.inf, 0, (weight.detach().clone(), bias.detach().clone())
    reference, last_gain, epoch = math.inf, 0, 0
    # Each pass scores the weights after ``epoch`` steps (0: the zero start), then steps;
    # without validation rows the training loss it computes anyway is the monitor.
    for epoch in range(max_epochs + 1):
        train_loss = loss(*rows["train"])
        if "val" in rows:
            with torch.no_grad():
                current = loss(*rows["val"]).item()
        else:
            current = train_loss.item()
        if current < best:
            best, best_epoch = current, epoch
            best_state = (weight.detach().clone(), bias.detach().clone())
        # Patience resets only on a real gain: a training loss creeping down by 1e-9 an
        # epoch on separable data would otherwise run to max_epochs.
        if current < reference * (1 - _MIN_DELTA):
            reference, last_gain = current, epoch
        elif epoch - last_gain >= patience:
            break
        if epoch == max_epochs:
            break
        optimizer.zero_grad()
        train_loss.backward()
        optimizer.step()
    return (best_state[0].numpy(), best_state[1].numpy()), epoch, best_epoch


def _fold(weight: np.ndarray, bias: np.ndarray, mean: np.ndarray,
          scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The layer on raw x equal to (weight, bias) on z = (x - mean) / scale:
    W' = W / scale, b' = b - W' @ mean (float64, so nothing cancels away)."""
    folded = weight.astype(np.float64) / scale
    return folded, bias.astype(np.float64) - folded @ mean


def _report(
    x: np.ndarray, y: np.ndarray, group_index: np.ndarray, train: np.ndarray, head: Head,
    class_weights: np.ndarray, epochs: int, best_epoch: int, warnings: list[str],
) -> TrainingReport:
    """Accuracies of the folded head (what is saved), per row, on both splits."""
    predicted, val = head.logits(x).argmax(axis=1), ~train
    confusion = np.zeros((len(head.labels),) * 2, dtype=np.int64)
    np.add.at(confusion, (y[val], predicted[val]), 1)

    def groups_in(rows: np.ndarray) -> int:
        return len(np.unique(group_index[rows]))

    per_class = [
        {"label": label, "train_groups": groups_in(train & (y == c)),
         "val_groups": groups_in(val & (y == c)),
         "val_accuracy": float(confusion[c, c] / n) if (n := confusion[c].sum()) else None}
        for c, label in enumerate(head.labels)
    ]
    return TrainingReport(
        labels=list(head.labels), train_samples=int(train.sum()), val_samples=int(val.sum()),
        train_groups=groups_in(train), val_groups=groups_in(val), epochs=epochs,
        best_epoch=best_epoch,
        val_accuracy=float(np.trace(confusion) / val.sum()) if val.any() else None,
        train_accuracy=float((predicted[train] == y[train]).mean()), per_class=per_class,
        confusion=confusion.tolist(), class_weights=[float(w) for w in class_weights],
        warnings=list(warnings),
    )
