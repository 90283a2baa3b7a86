"""Mutation check of the core promises: ``python -m tests.mutants``.

Each mutation is one small patch that breaks one promise stcli makes (the shard rule, an
ingredient of the resume fingerprint, the rotation step, the official tie rules...). The
check applies each to a fresh copy of the repository, runs there only the tests that
should notice, and calls the mutation *caught* when they fail and *survived* when they
pass. A survivor means a promise can break with the suite green: the check prints the
table and exits 1.

The patch is an exact text replacement that must match exactly once, so a mutation whose
code moved stops the check ("stale") instead of silently testing nothing. Run one or a
few by name (``python -m tests.mutants shard-rule lock``), list them with ``--list``.

The copy is imported through ``PYTHONPATH``, ahead of the installed stcli, by the tests and
by the ``stcli`` subprocesses they start; ``--baseline`` first runs every listed test on
an unmutated copy (a test that fails anyway would make every mutation look caught).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# What a copy needs: the package, its preset data, the tests and what they read.
COPIED = ("stcli", "presets", "tests", "benchmarks", "completions", "pyproject.toml",
          "README.md")
SHARED = REPO.parent / "shared"
IGNORED = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.egg-info", "*.pyc")


@dataclass(frozen=True)
class Mutation:
    """One broken promise: replace ``old`` (found exactly once in ``file``) by ``new``;
    ``tests`` (pytest node ids) must then fail."""

    name: str
    promise: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]


ING = "tests/test_batch_runs.py::test_resume_recomputes_every_video_when_an_ingredient_changes"
REUSES = "tests/test_batch_runs.py::test_resume_reuses_only_reports_whose_fingerprint_matches"
SIGTERM = "tests/test_watch.py::test_sigterm_finishes_the_step_closes_segments_and_sums_up"
SECOND_CTRL_C = "tests/test_watch.py::test_a_second_ctrl_c_interrupts_at_once"
THUMOS = "tests/test_evaluate_thumos.py"
AVA_EVAL = "tests/test_evaluate_ava.py"

MUTATIONS: tuple[Mutation, ...] = (
    # -- many machines: the shard rule and merge -----------------------------------------
    Mutation("shard-rule", "a video's shard is sha256(key) mod N", "stcli/batch/shards.py",
             'return int.from_bytes(digest[:8], "big") % count', "return 0",
             ("tests/test_shards.py::test_shard_of_follows_the_documented_rule",)),
    Mutation("shard-hash-order", "the digest's first 8 bytes are read big-endian",
             "stcli/batch/shards.py", 'int.from_bytes(digest[:8], "big")',
             'int.from_bytes(digest[:8], "little")',
             ("tests/test_shards.py::test_shard_of_follows_the_documented_rule",)),
    Mutation("merge-order", "merge writes records in input order, whatever the parts' order",
             "stcli/batch/shards.py",
             'return Merged(layout, [records[entry["video"]] for entry in first["inputs"]],',
             "return Merged(layout, list(records.values()),",
             ("tests/test_shards.py::test_merged_shards_equal_a_single_run[classify.csv]",)),
    Mutation("merge-foreign", "merge refuses a part of another input list", "stcli/batch/shards.py",
             'if doc["shard"]["count"] != count or doc["inputs"] != first["inputs"]:',
             'if doc["shard"]["count"] != count:',
             ("tests/test_shards.py::test_merge_refuses_a_shard_of_other_inputs",)),
    Mutation("merge-unfinished", "merge names a shard that did not finish", "stcli/batch/shards.py",
             "    if unfinished:\n", "    if unfinished and False:\n",
             ("tests/test_shards.py::test_merge_names_an_interrupted_shard",)),
    # -- batch runs: resume by fingerprint, writes that never lose work ------------------
    Mutation("fingerprint-checkpoint", "resume fingerprint holds the checkpoint sha256",
             "stcli/batch/resume.py", '"checkpoint_sha256": model.weights_sha256,',
             '"checkpoint_sha256": None,', (f"{ING}[backend-checkpoint-precision]",)),
    Mutation("fingerprint-head", "resume fingerprint holds the custom head",
             "stcli/batch/resume.py",
             '"head_sha256": _head_digest(model),', '"head_sha256": None,', (f"{ING}[head]",)),
    Mutation("fingerprint-engine", "resume fingerprint holds the engine (backend, precision)",
             "stcli/batch/resume.py", '"engine": model.backend,', '"engine": None,',
             (f"{ING}[backend-checkpoint-precision]",)),
    Mutation("fingerprint-settings", "resume fingerprint holds every setting",
             "stcli/batch/resume.py", '"settings": settings.to_dict(),', '"settings": None,',
             (REUSES,)),
    Mutation("fingerprint-files", "resume fingerprint holds the files settings name",
             "stcli/batch/resume.py",
             '"files": {path: file_stamp(path) for path in settings.input_files()},',
             '"files": {},', (f"{ING}[label-map]",)),
    Mutation("fingerprint-detector-file", "onnx:PATH#LAYOUT: a resumed run stamps PATH",
             "stcli/settings.py",
             "        onnx = onnx_detector(self.person_detector)\n"
             "        return tuple(f for f in (self.proposals, onnx and onnx[0]) if f)\n",
             '        detector = self.person_detector.removeprefix("onnx:")\n'
             "        return tuple(f for f in (self.proposals, None if detector == \"hog\" "
             "else detector) if f)\n",
             (f"{ING}[detector]",)),
    Mutation("fingerprint-input", "a report stands only for an unchanged video (size, mtime)",
             "stcli/batch/resume.py", 'expected = {**self._run, "input": file_stamp(video)}',
             'expected = {**self._run, "input": (stamp or {}).get("input")}', (REUSES,)),
    Mutation("atomic-write", "reports and --out go to a temporary file renamed into place",
             "stcli/fileio.py",
             "    with atomic_path(path) as tmp:\n        tmp.write_bytes(data)\n",
             "    Path(path).parent.mkdir(parents=True, exist_ok=True)\n"
             "    Path(path).write_bytes(data)\n",
             ("tests/test_reports.py::test_write_atomic_cut_short_keeps_old_file_and_no_partial",)),
    Mutation("recovery-file", "an --out that cannot be written is saved to a recovery file",
             "stcli/batch/writes.py", "            write_atomic(folder / name, text)\n",
             "            raise OSError(28, 'mutant: no recovery file')\n",
             ("tests/test_batch_runs.py::"
              "test_an_out_that_cannot_be_written_is_saved_to_a_recovery_file",)),
    Mutation("lock", "processes making one cache entry take turns (flock on NAME.lock)",
             "stcli/fileio.py", "            fcntl.flock(fd, fcntl.LOCK_EX)\n",
             "            pass  # mutant: no lock\n",
             ("tests/test_weights.py::test_file_lock_makes_processes_take_turns",)),
    # -- frames: what the network sees -------------------------------------------------
    Mutation("orient-mirror", "frames are mirrored as the display matrix says",
             "stcli/video/containers.py",
             "        out = out[:, ::-1] if b < 0 else out\n"
             "        out = out[:, :, ::-1] if c < 0 else out\n    else:\n"
             "        out = frames[:, ::-1] if d < 0 else frames\n"
             "        out = out[:, :, ::-1] if a < 0 else out\n",
             "    else:\n        out = frames\n",
             ("tests/test_frames.py::test_both_decoders_show_the_frames_upright[hflip]",)),
    Mutation("orient-rotate", "frames are turned as the display matrix says",
             "stcli/video/containers.py", "out = frames.transpose(0, 2, 1, 3)", "out = frames",
             ("tests/test_frames.py::test_both_decoders_show_the_frames_upright[tag90]",)),
    Mutation("uint8-resize", "frames are resized by OpenCV INTER_LINEAR on uint8",
             "stcli/video/transforms.py",
             "resized[i] = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)",
             "resized[i] = np.rint(cv2.resize(frame.astype(np.float32), (width, height), "
             "interpolation=cv2.INTER_LINEAR))",
             ("tests/test_transforms.py::test_resize_frames_rounds_like_opencv_on_uint8",)),
    Mutation("ava-keyframe-offset", "an AVA keyframe's clip is frames c-31 ... c+29",
             "stcli/video/sampling.py", "- (clip_len // 2) * frame_interval + 1",
             "- (clip_len // 2) * frame_interval", ("tests/test_detect.py::test_keyframe_plans",)),
    Mutation("roialign-half-pixel", "RoIAlign is aligned=True (half-pixel shift)",
             "stcli/network/roi.py", "rois[:, i] * spatial_scale - 0.5 for i in range(1, 5)",
             "rois[:, i] * spatial_scale for i in range(1, 5)",
             ("tests/test_roi.py::test_a_linear_ramp_gives_the_sample_positions",)),
    Mutation("url-seek", "a URL input seeks to --start", "stcli/video/frames.py",
             'start = [] if seek is None else ["-ss", f"{seek:.6f}"]',
             'start = [] if seek is None or is_url(self.path) else ["-ss", f"{seek:.6f}"]',
             ("tests/test_ranges.py::test_seeking_returns_the_frames_of_a_full_decode",)),
    Mutation("time-range", "--start/--end keep frames with start <= t < end",
             "stcli/pipeline.py", "np.searchsorted(times, end_s - _ON_BOUND_S))",
             "np.searchsorted(times, end_s + _ON_BOUND_S))",
             ("tests/test_ranges.py::test_frames_of_a_range",)),
    # -- watch: signals and dropped steps ---------------------------------------------------
    Mutation("watch-sigterm", "SIGTERM stops a watch after its step: segments end, summary",
             "stcli/cli/watch.py", "catchable((signal.SIGINT, *STOP_SIGNALS))",
             "catchable((signal.SIGINT,))", (f"{SIGTERM}[buffered]",)),
    Mutation("watch-sigterm-exit", "a watch stopped by a signal exits 128 + the signal",
             "stcli/cli/watch.py", "raise typer.Exit(128 + stop.signum)",
             "raise typer.Exit(130)", (f"{SIGTERM}[buffered]",)),
    Mutation("watch-second-signal", "a second Ctrl-C interrupts the watch at once",
             "stcli/cli/watch.py", "        if self.signum is None:\n", "        if True:\n",
             (f"{SECOND_CTRL_C}[buffered]",)),
    Mutation("watch-second-signal-whole", "a second Ctrl-C lets the line being written end",
             "stcli/cli/watch.py", "        elif self.showing:\n", "        elif False:\n",
             (f"{SECOND_CTRL_C}[buffered]",)),
    Mutation("watch-unbuffered-whole", "event lines are whole under PYTHONUNBUFFERED too",
             "stcli/cli/watch.py",
             "            data = memoryview(line.encode())\n            while data:\n"
             "                data = data[os.write(fd, data):]\n",
             "            sys.stdout.write(line)\n", (f"{SIGTERM}[unbuffered]",)),
    Mutation("watch-skip-count", "every step replaced before it was scored is counted skipped",
             "stcli/video/live.py", "self.skipped += 1", "self.skipped = 1",
             ("tests/test_watch.py::"
              "test_steps_the_scorer_could_not_take_are_skipped_and_counted",)),
    Mutation("bench-ms-per-clip", "ms_per_clip is the best round per clip, not per batch",
             "stcli/deploy/bench.py", "ms_per_clip=round(1000 * best / clips, 3)",
             "ms_per_clip=round(1000 * best / len(self.batches), 3)",
             ("tests/test_bench.py::test_model_rows_are_measured_and_exact_rows_match_eager",)),
    # -- localization: Soft-NMS and the ActivityNet evaluator ---------------------------
    Mutation("soft-nms-decay", "Soft-NMS decays by exp(-tiou^2 / sigma)", "stcli/segments.py",
             "np.exp(-(tiou(segs[top], segs[order]) ** 2) / sigma)",
             "np.exp(-tiou(segs[top], segs[order]) / sigma)",
             ("tests/test_segments.py::test_soft_nms_decays_and_reorders",)),
    Mutation("anet-score-ties", "equal scores rank as ANETdetection's argsort()[::-1]",
             "stcli/evaluate/localization.py", "order = np.argsort(scores)[::-1]",
             'order = np.argsort(-scores, kind="stable")',
             (f"{THUMOS}::test_ties_in_score_rank_the_later_listed_first",)),
    Mutation("anet-tiou-ties", "of equal tIoU the later-listed ground truth is taken",
             "stcli/evaluate/localization.py", "ranked = np.argsort(tiou)[::-1]",
             'ranked = np.argsort(-tiou, kind="stable")',
             (f"{THUMOS}::test_equal_tiou_takes_the_later_listed_segment",)),
    Mutation("ap-interpolation", "AP is all-point interpolated (precision envelope)",
             "stcli/evaluate/ap.py",
             "mprec = np.maximum.accumulate(mprec[::-1])[::-1]", "mprec = mprec",
             (f"{THUMOS}::test_multi_video_multi_class_case",
              f"{AVA_EVAL}::test_false_positive_ranked_first")),
    # -- AVA: the official evaluator's tie rules -----------------------------------------
    Mutation("ava-score-ties", "equal AVA scores rank as the reader's argsort()[::-1]",
             "stcli/evaluate/ava.py", "ranked = hits[np.argsort(scores)[::-1]]",
             'ranked = hits[np.argsort(-scores, kind="stable")]',
             (f"{AVA_EVAL}::test_equal_scores_rank_as_the_official_code_ranks_them",)),
    Mutation("ava-iou-ties", "of equal IoU the box the official reader lists first is taken",
             "stcli/evaluate/ava.py", "best = overlaps.argmax(axis=1)",
             "best = overlaps.shape[1] - 1 - overlaps[:, ::-1].argmax(axis=1)",
             (f"{AVA_EVAL}::test_equal_iou_goes_to_the_box_the_official_reader_lists_first",)),
    # -- start-up: an onnxruntime run never imports torch --------------------------------
    Mutation("torch-free-import", "onnxruntime runs never import torch",
             "stcli/engines/backends.py",
             "from __future__ import annotations\n",
             "from __future__ import annotations\n\nimport torch  # noqa: F401\n",
             ("tests/test_torch_free.py::test_onnxruntime_runs_never_import_torch[classify]",)),
)


class StaleMutation(Exception):
    """The text a mutation replaces is not in its file exactly once."""


def mutate(root: Path, mutation: Mutation) -> None:
    """Apply ``mutation`` to the copy at ``root``."""
    path = root / mutation.file
    text = path.read_text(encoding="utf-8")
    found = text.count(mutation.old)
    if found != 1:
        raise StaleMutation(f"{mutation.name}: its text occurs {found} times in {mutation.file}"
                            " (update the mutation to the code)")
    path.write_text(text.replace(mutation.old, mutation.new), encoding="utf-8")


def copy_repository(target: Path) -> Path:
    """A copy of what the tests need, ``target/repo``, with ``../shared`` beside it (a link
    to this checkout's, when it has one): the copy's tests find what the suite's find."""
    root = target / "repo"
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=IGNORED)
        elif source.is_file():
            root.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    if SHARED.is_dir():
        (target / "shared").symlink_to(SHARED, target_is_directory=True)
    return root


def run_tests(root: Path, tests: tuple[str, ...], timeout: float) -> tuple[int, str]:
    """pytest on ``tests`` in the copy at ``root``: (exit code, output tail)."""
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           "-o", "addopts=", *tests]
    try:
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {timeout:.0f} s"
    return done.returncode, (done.stdout + done.stderr)[-3000:]


@dataclass
class Outcome:
    """What one mutation's tests did."""

    mutation: Mutation
    verdict: str  # caught, survived, stale or error
    seconds: float
    detail: str = ""


def check(mutation: Mutation, timeout: float) -> Outcome:
    """Apply ``mutation`` to a fresh copy and run its tests there."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"stcli-mutant-{mutation.name}-") as tmp:
        root = copy_repository(Path(tmp))
        try:
            mutate(root, mutation)
        except StaleMutation as exc:
            return Outcome(mutation, "stale", 0.0, str(exc))
        code, output = run_tests(root, mutation.tests, timeout)
    seconds = time.perf_counter() - start
    # pytest: 1 = tests failed (caught); 0 = all passed (survived); anything else (usage
    # error, no tests collected, interrupted, timeout) says nothing about the mutation.
    verdict = {0: "survived", 1: "caught"}.get(code, "error")
    return Outcome(mutation, verdict, seconds, "" if verdict == "caught" else output)


def baseline(mutations: list[Mutation], timeout: float) -> tuple[int, str]:
    """Every listed test on an unmutated copy: they must pass for a failure to mean
    anything."""
    tests = tuple(dict.fromkeys(t for m in mutations for t in m.tests))
    with tempfile.TemporaryDirectory(prefix="stcli-mutant-baseline-") as tmp:
        return run_tests(copy_repository(Path(tmp)), tests, timeout)


def table(outcomes: list[Outcome]) -> str:
    """The result table, one row per mutation."""
    rows = [("mutation", "promise", "tests", "result", "s")]
    for o in outcomes:
        rows.append((o.mutation.name, o.mutation.promise, str(len(o.mutation.tests)),
                     o.verdict, f"{o.seconds:.0f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutants",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="mutations to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutations and stop")
    parser.add_argument("--jobs", type=int, default=2, help="mutations at once (default 2)")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds one mutation's tests may take (default 600)")
    parser.add_argument("--baseline", action="store_true",
                        help="first check that the listed tests pass unmutated")
    args = parser.parse_args(argv)

    known = {m.name: m for m in MUTATIONS}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown mutation(s) {', '.join(unknown)}; --list shows them")
    chosen = [known[n] for n in args.names] if args.names else list(MUTATIONS)
    if args.list:
        for m in chosen:
            print(f"{m.name}: {m.promise} ({m.file}; {len(m.tests)} tests)")
        return 0
    if args.baseline:
        code, output = baseline(chosen, args.timeout)
        if code != 0:
            print(output, file=sys.stderr)
            print("mutants: the tests fail without any mutation; fix them first",
                  file=sys.stderr)
            return 2
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = []
        for outcome in pool.map(lambda m: check(m, args.timeout), chosen):
            print(f"{outcome.mutation.name}: {outcome.verdict} ({outcome.seconds:.0f} s)",
                  file=sys.stderr, flush=True)
            outcomes.append(outcome)
    print(table(outcomes))
    bad = [o for o in outcomes if o.verdict != "caught"]
    for o in bad:
        print(f"\n== {o.mutation.name}: {o.verdict}\n{o.detail}", file=sys.stderr)
    print(f"{len(outcomes) - len(bad)} of {len(outcomes)} mutations caught in "
          f"{time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
