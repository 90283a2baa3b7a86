"""Custom heads: training on pooled features, the saved folder format, and loading it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from stcli.errors import UsageError
from stcli.heads import (
    Head,
    TrainingReport,
    _fold,
    load_head,
    save_head,
    split_groups,
)
from stcli.heads import (
    fit_head as train_head,
)

CLASSES = ("drink", "jump", "run", "wave")


def clusters(
    dim: int = 64, groups_per_class: tuple[int, ...] = (10, 10, 10, 10), rows: int = 3,
    seed: int = 0, draw: int = 0, spread: float = 4.0,
) -> tuple[np.ndarray, list[str], list[str]]:
    """Gaussian clusters, one per class (placed by ``seed``); rows of a group (clip) share
    a group offset. Another ``draw`` gives fresh clips of the same clusters."""
    centers = np.random.default_rng(seed).normal(size=(len(groups_per_class), dim)) * spread
    centers += 5.0  # pooled features are post-ReLU: far from zero mean
    rng = np.random.default_rng([seed, draw])
    features, labels, groups = [], [], []
    for c, count in enumerate(groups_per_class):
        for g in range(count):
            clip = centers[c] + rng.normal(size=dim) * 0.5
            features.append(clip + rng.normal(size=(rows, dim)))
            labels += [CLASSES[c]] * rows
            groups += [f"{CLASSES[c]}/{g}"] * rows
    return np.concatenate(features).astype(np.float32), labels, groups


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, list[str], list[str]]:
    return clusters()


@pytest.fixture(scope="module")
def trained(data) -> tuple[Head, TrainingReport]:
    features, labels, groups = data
    return train_head(features, labels, groups, meta={"preset": "k400"})


# --- training ------------------------------------------------------------------------------


def test_separable_clusters_are_learned(trained) -> None:
    head, report = trained
    assert head.labels == list(CLASSES) and report.labels == list(CLASSES)
    assert head.weight.shape == (4, 64) and head.weight.dtype == np.float32
    assert report.val_accuracy == 1.0 and report.train_accuracy == 1.0
    assert [c["val_accuracy"] for c in report.per_class] == [1.0] * 4
    assert np.array_equal(np.diag(report.confusion), [6, 6, 6, 6])  # 2 clips x 3 rows
    assert np.sum(report.confusion) == report.val_samples == 24
    assert 0 < report.best_epoch <= report.epochs <= 300
    fresh, truth, _ = clusters(draw=1)  # new clips of the same classes
    predicted = [head.labels[i] for i in head.logits(fresh).argmax(axis=1)]
    assert predicted == truth


def test_backbone_sized_features() -> None:
    features, labels, groups = clusters(dim=2048, groups_per_class=(4, 4, 4), rows=2)
    head, report = train_head(features, labels, groups)
    assert head.weight.shape == (3, 2048) and report.val_accuracy == 1.0


def test_folding_equals_standardize_then_linear() -> None:
    rng = np.random.default_rng(3)
    weight, bias = rng.normal(size=(4, 16)), rng.normal(size=4)
    mean, scale = rng.normal(size=16) * 10, rng.uniform(0.1, 5, size=16)
    x = rng.normal(size=(50, 16)) * scale + mean
    folded_w, folded_b = _fold(weight, bias, mean, scale)
    want = ((x - mean) / scale) @ weight.T + bias
    np.testing.assert_allclose(x @ folded_w.T + folded_b, want, rtol=1e-10, atol=1e-10)


def test_head_does_not_depend_on_feature_units(data) -> None:
    """Standardization is folded in: training on rescaled, shifted features gives a head
    with the same decisions on equally rescaled inputs."""
    features, labels, groups = data
    rng = np.random.default_rng(5)
    scale = rng.uniform(0.5, 3, size=64).astype(np.float32)
    shift = rng.normal(size=64).astype(np.float32) * 10
    head, _ = train_head(features, labels, groups)
    moved, _ = train_head(features * scale + shift, labels, groups)
    np.testing.assert_allclose(moved.logits(features * scale + shift), head.logits(features),
                               rtol=1e-3, atol=1e-3)


def test_head_is_immutable(trained) -> None:
    head, _ = trained
    with pytest.raises(ValueError):
        head.weight[0, 0] = 1.0


def test_same_seed_same_head_other_seed_other_split(data) -> None:
    features, labels, groups = data
    first, report = train_head(features, labels, groups, seed=7, max_epochs=50)
    again, same_report = train_head(features, labels, groups, seed=7, max_epochs=50)
    assert np.array_equal(first.weight, again.weight)
    assert np.array_equal(first.bias, again.bias)
    assert report == same_report
    assert not np.array_equal(split_groups(labels, groups, seed=7),
                              split_groups(labels, groups, seed=8))
    other, _ = train_head(features, labels, groups, seed=8, max_epochs=50)
    assert not np.array_equal(first.weight, other.weight)


def test_groups_never_straddle_the_split(data) -> None:
    features, labels, groups = data
    order = np.random.default_rng(1).permutation(len(labels))  # clips' rows interleaved
    labels, groups = [labels[i] for i in order], [groups[i] for i in order]
    for seed in range(5):
        is_val = split_groups(labels, groups, val_fraction=0.3, seed=seed)
        for group in set(groups):
            assert len({is_val[i] for i, g in enumerate(groups) if g == group}) == 1
        val_groups = {g for g, v in zip(groups, is_val, strict=True) if v}
        for name in CLASSES:  # round(0.3 x 10) clips of every class
            assert sum(g.startswith(name + "/") for g in val_groups) == 3
    _, report = train_head(features[order], labels, groups, val_fraction=0.3)
    assert (report.train_groups, report.val_groups) == (28, 12)
    assert (report.train_samples, report.val_samples) == (84, 36)
    assert [(c["train_groups"], c["val_groups"]) for c in report.per_class] == [(7, 3)] * 4


def test_split_keeps_one_clip_each_side() -> None:
    labels = ["a"] * 2 + ["b"] * 3 + ["c"] * 20
    is_val = split_groups(labels, val_fraction=0.9)  # default: every row its own group
    assert [int(is_val[[x == n for x in labels]].sum()) for n in "abc"] == [1, 2, 18]
    is_val = split_groups(labels, val_fraction=0.01)
    assert [int(is_val[[x == n for x in labels]].sum()) for n in "abc"] == [1, 1, 1]
    assert not split_groups(labels, val_fraction=0).any()


def test_early_stopping_keeps_the_best_epoch() -> None:
    """Classes that cannot be told apart: the validation loss rises as training fits the
    noise, so training stops ``patience`` epochs after its best and returns that epoch."""
    features, labels, groups = clusters(spread=0.0, rows=2)

    def val_loss(head: Head) -> float:
        is_val = split_groups(labels, groups)
        logits = head.logits(features[is_val]).astype(np.float64)
        truth = np.array([head.labels.index(label) for label, v in zip(labels, is_val,
                                                                       strict=True) if v])
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return float(-log_p[np.arange(len(truth)), truth].mean())

    head, report = train_head(features, labels, groups, patience=10)
    assert 1 <= report.best_epoch and report.best_epoch + 10 <= report.epochs < 300
    # The weights after best_epoch steps, not after the last: training stopped there
    # gives the same head, and one step fewer a worse one.
    at_best, _ = train_head(features, labels, groups, max_epochs=report.best_epoch)
    assert np.array_equal(head.weight, at_best.weight)
    before, _ = train_head(features, labels, groups, max_epochs=report.best_epoch - 1)
    assert val_loss(head) < val_loss(before) and val_loss(head) < np.log(4)


def test_without_validation(data) -> None:
    features, labels, groups = data
    head, report = train_head(features, labels, groups, val_fraction=0, max_epochs=40)
    assert report.val_accuracy is None and report.val_samples == report.val_groups == 0
    assert report.train_accuracy == 1.0 and report.epochs <= 40
    assert all(c["val_accuracy"] is None for c in report.per_class)
    assert np.sum(report.confusion) == 0


def test_class_weights_follow_clip_counts() -> None:
    features, labels, groups = clusters(groups_per_class=(6, 3, 2), rows=2)
    _, report = train_head(features, labels, groups, val_fraction=0, max_epochs=5)
    assert report.class_weights == pytest.approx([0.5, 1.0, 1.5])  # 1/6 : 1/3 : 1/2, mean 1
    features, labels, groups = clusters(groups_per_class=(10, 5, 3), rows=2)
    _, report = train_head(features, labels, groups, max_epochs=5)
    # Training keeps 8, 4 and 2 clips (2, 1 and 1 go to validation).
    assert report.class_weights == pytest.approx([3 / 7, 6 / 7, 12 / 7])


def test_rows_per_clip_do_not_tilt_the_classifier() -> None:
    """Overlapping classes, one sampled 8 times per clip, the other once: each clip
    counts once, so the many-row class does not take over the shared region."""
    shape = {"dim": 4, "spread": 0.6}
    many, many_labels, many_groups = clusters(groups_per_class=(12, 0), rows=8, **shape)
    one, one_labels, one_groups = clusters(groups_per_class=(0, 12), rows=1, **shape)
    head, report = train_head(np.concatenate([many, one]), many_labels + one_labels,
                              many_groups + one_groups, val_fraction=0)
    assert report.class_weights == pytest.approx([1.0, 1.0])
    fresh, truth, _ = clusters(groups_per_class=(50, 50), rows=4, draw=3, **shape)
    predicted = head.logits(fresh).argmax(axis=1)
    truth = np.array([head.labels.index(label) for label in truth])
    # Weighting rows instead of clips predicts 'drink' for 95% and finds 9% of 'jump'.
    assert (predicted == 0).mean() < 0.8
    assert (predicted[truth == 1] == 1).mean() > 0.3


def test_too_few_clips_names_the_label() -> None:
    features, labels, groups = clusters(groups_per_class=(5, 1))
    with pytest.raises(UsageError, match="too few clips for 'jump' \\(1\\)"):
        train_head(features, labels, groups)
    features, labels, groups = clusters(groups_per_class=(5,))
    with pytest.raises(UsageError, match="at least 2 classes, all rows are 'drink'"):
        train_head(features, labels, groups)


def test_single_clip_label_trains_with_a_warning() -> None:
    features, labels, groups = clusters(groups_per_class=(5, 5, 1))
    head, report = train_head(features, labels, groups)
    assert head.labels == ["drink", "jump", "run"]
    assert len(report.warnings) == 1 and "'run' has only 1 clip" in report.warnings[0]
    run = report.per_class[2]
    assert (run["train_groups"], run["val_groups"], run["val_accuracy"]) == (1, 0, None)


def test_bad_inputs_are_usage_errors(data) -> None:
    features, labels, groups = data
    with pytest.raises(UsageError, match="background 'idle' is not one of the labels"):
        train_head(features, labels, groups, background="idle")
    with pytest.raises(UsageError, match="one row per label"):
        train_head(features[:-1], labels, groups)
    with pytest.raises(UsageError, match="one group per row"):
        train_head(features, labels, groups[:-1])
    with pytest.raises(UsageError, match="val_fraction"):
        train_head(features, labels, groups, val_fraction=1.0)
    broken = features.copy()
    broken[7, 3] = np.nan
    with pytest.raises(UsageError, match="NaN or inf .* first 7"):
        train_head(broken, labels, groups)
    mixed = list(groups)
    mixed[0] = groups[-1]  # a 'drink' row in a 'wave' clip
    with pytest.raises(UsageError, match="'wave/9' has rows labelled"):
        train_head(features, labels, mixed)


def test_meta_records_provenance(data) -> None:
    features, labels, groups = data
    head, report = train_head(features, labels, groups, background="wave",
                              meta={"preset": "k400", "backbone_sha256": "ab" * 32})
    assert head.background == "wave"
    assert head.meta["preset"] == "k400" and head.meta["backbone_sha256"] == "ab" * 32
    assert head.meta["report"] == report.to_dict()
    assert head.meta["training"]["seed"] == 0 and head.meta["stcli_version"]
    assert head.meta["created"].endswith("+00:00")
    json.dumps(head.meta)  # JSON-able as is


# --- saving and loading --------------------------------------------------------------------


def test_save_load_round_trip(tmp_path: Path, trained) -> None:
    head, _ = trained
    head = Head(head.weight, head.bias, head.labels, "wave", head.meta)
    path = save_head(head, tmp_path / "mine.head")
    assert path == tmp_path / "mine.head"
    assert sorted(p.name for p in path.iterdir()) == ["head.json", "head.safetensors"]
    loaded = load_head(path)
    assert np.array_equal(loaded.weight, head.weight) and loaded.weight.dtype == np.float32
    assert np.array_equal(loaded.bias, head.bias)
    assert (loaded.labels, loaded.background, loaded.meta) == (
        head.labels, head.background, head.meta)
    info = json.loads((path / "head.json").read_text())
    assert info["format_version"] == 1 and info["feature_dim"] == 64


def test_save_replaces_an_existing_head(tmp_path: Path, trained) -> None:
    head, _ = trained
    target = tmp_path / "models" / "mine.head"  # parent folders are made
    save_head(head, target)
    other = Head(head.weight * 2, head.bias, ["a", "b", "c", "d"], None, {"n": 2})
    save_head(other, target)
    loaded = load_head(target)
    assert loaded.labels == ["a", "b", "c", "d"] and loaded.meta == {"n": 2}
    assert np.array_equal(loaded.weight, other.weight)
    assert [p.name for p in target.parent.iterdir()] == ["mine.head"]  # no leftovers


def test_save_refuses_to_replace_something_else(tmp_path: Path, trained) -> None:
    head, _ = trained
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"meow")
    a_file = tmp_path / "notes.head"
    a_file.write_text("keep me")
    for target in (folder, a_file):
        with pytest.raises(UsageError, match="not an stcli head folder; not replacing"):
            save_head(head, target)
    assert (folder / "cat.jpg").read_bytes() == b"meow" and a_file.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.head", "photos"]


@pytest.fixture
def saved(tmp_path: Path, trained) -> Path:
    return save_head(trained[0], tmp_path / "mine.head")


def _rewrite_info(path: Path, **changes: object) -> None:
    info = json.loads((path / "head.json").read_text())
    info.update(changes)
    (path / "head.json").write_text(json.dumps(info))


def test_missing_heads(tmp_path: Path, saved: Path) -> None:
    with pytest.raises(UsageError, match=f"{tmp_path / 'nope.head'}: head not found"):
        load_head(tmp_path / "nope.head")
    (saved / "head.safetensors").unlink()
    with pytest.raises(UsageError, match=f"{saved}: not an stcli head folder .*train-head"):
        load_head(saved)
    with pytest.raises(UsageError, match="not an stcli head folder"):
        load_head(saved / "head.json")  # a file, not the folder


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: (p / "head.json").write_text("{labels"), "head.json: line 1: not valid JSON"),
        (lambda p: _rewrite_info(p, format_version=2), "head.json: head format version 2 is"),
        (lambda p: _rewrite_info(p, format="other"), "head.json: not an stcli head"),
        (lambda p: _rewrite_info(p, labels="drink"), "head.json: malformed"),
        (lambda p: _rewrite_info(p, labels=["a", "b", "c"]), "mine.head: head has 3 labels"),
        (lambda p: _rewrite_info(p, labels=["a", "b", "a", "c"]), "labels repeat: a"),
        (lambda p: _rewrite_info(p, background="idle"), "background 'idle' is not one"),
        (lambda p: (p / "head.safetensors").write_bytes(b"\x00" * 40),
         "head.safetensors: not a readable .safetensors file"),
    ],
)
def test_damaged_heads(saved: Path, damage, message: str) -> None:
    damage(saved)
    with pytest.raises(UsageError, match=message) as caught:
        load_head(saved)
    assert str(saved) in str(caught.value)


def test_wrong_tensors(saved: Path) -> None:
    import safetensors.torch

    tensors = saved / "head.safetensors"
    tensors.write_bytes(safetensors.torch.save({"weight": torch.zeros(4, 8, dtype=torch.int32),
                                                "bias": torch.zeros(4)}))
    with pytest.raises(UsageError, match="expected float tensors .* weight int32"):
        load_head(saved)
    tensors.write_bytes(safetensors.torch.save({"weight": torch.zeros(4, 8),
                                                "bias": torch.zeros(5)}))
    with pytest.raises(UsageError, match=f"{saved}: head weight .* do not form a linear"):
        load_head(saved)
    loaded_ok = {"weight": torch.zeros(4, 8, dtype=torch.float16), "bias": torch.zeros(4)}
    tensors.write_bytes(safetensors.torch.save(loaded_ok))
    assert load_head(saved).weight.dtype == np.float32  # any float is read as float32
