"""``--executor ray``: the same records as the local executor, from Ray actors (issue 15).

One real Ray cluster per module, on 127.0.0.1 with 2 CPUs, started in this process and
shut down after; ``stcli`` runs as a user runs it (a subprocess) and joins it with
``--ray-address``. The cluster's workers get the runs' offline environment (cache with
the ONNX export, no weights folder, unreachable mirror) from this process.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_stcli
from tests.test_shards import untimed

ray = pytest.importorskip("ray")

VIEWS = ("--views", "1x1")


@pytest.fixture(scope="module")
def cluster(env: dict[str, str]) -> str:
    """The address of a 2-CPU Ray cluster on 127.0.0.1 whose workers see ``env``."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # inherited by the cluster's processes, hence by the workers
    try:
        context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                           _node_ip_address="127.0.0.1")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    yield context.address_info["gcs_address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, generated_videos) -> Path:
    """Four videos (one in a subfolder) and a file that is not a video."""
    root = tmp_path_factory.mktemp("in")
    (root / "sub").mkdir()
    for name, source in (("a", "landscape"), ("b", "portrait"), ("c", "short"),
                         ("sub/d", "landscape")):
        shutil.copyfile(generated_videos[source], root / f"{name}.mp4")
    (root / "broken.mp4").write_bytes(b"not a video at all")
    return root


def stcli(*args: object, env: dict[str, str]):
    return run_stcli(*[str(a) for a in args], env=env)


def on_ray(address: str, workers: int = 2) -> tuple[str, ...]:
    return ("--executor", "ray", "--ray-address", address, "--workers", str(workers),
            "--threads-per-worker", "1")


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, folder, ckpt, env) -> tuple[str, str]:
    """The local executor's CSV (--out) and JSON (stdout) of classify on ``folder``."""
    out = tmp_path_factory.mktemp("local") / "preds.csv"
    done = stcli("classify", folder, "-c", ckpt, *VIEWS, "--out", out, "-f", "json", env=env)
    assert done.returncode == 1, done.stderr  # broken.mp4 failed, the others did not
    return out.read_text(), done.stdout


def ray_run(folder: Path, ckpt: Path, env: dict[str, str], out: Path, *options: str,
            **extra_env: str) -> tuple[str, str, str]:
    done = stcli("classify", folder, "-c", ckpt, *VIEWS, "--out", out, "-f", "json",
                 *options, env={**env, **extra_env})
    assert done.returncode == 1, done.stderr
    return out.read_text(), done.stdout, done.stderr


def test_ray_equals_local_with_a_failing_video(cluster, folder, ckpt, env, local_run,
                                               tmp_path):
    csv_text, json_text, stderr = ray_run(folder, ckpt, env, tmp_path / "preds.csv",
                                          *on_ray(cluster))
    local_csv, local_json = local_run
    assert untimed(csv_text) == untimed(local_csv)
    assert untimed(json_text) == untimed(local_json)
    assert "broken.mp4,error,not a readable video" in csv_text.replace(str(folder) + "/", "")
    assert "5 videos: 4 ok, 1 failed" in stderr


def test_a_dead_worker_has_its_videos_retried(cluster, folder, ckpt, env, local_run,
                                              tmp_path):
    tickets = tmp_path / "tickets"
    tickets.mkdir()
    csv_text, json_text, stderr = ray_run(folder, ckpt, env, tmp_path / "preds.csv",
                                          *on_ray(cluster),
                                          STCLI_TEST_WORKER_EXIT=f"{tickets}:1")
    assert (tickets / "exit-0").is_file()  # a worker did die, on its first video
    assert "its Ray worker died; trying again on another (1 of 2)" in stderr
    local_csv, local_json = local_run
    assert untimed(csv_text) == untimed(local_csv)
    assert untimed(json_text) == untimed(local_json)


def test_a_video_whose_workers_keep_dying_is_an_error_record(cluster, generated_videos,
                                                             ckpt, env, tmp_path):
    tickets = tmp_path / "tickets"
    tickets.mkdir()
    video = shutil.copyfile(generated_videos["short"], tmp_path / "v.mp4")
    done = stcli("classify", video, "-c", ckpt, *VIEWS, "-f", "csv", *on_ray(cluster, 1),
                 env={**env, "STCLI_TEST_WORKER_EXIT": f"{tickets}:10"})
    assert done.returncode == 1, done.stderr
    assert sorted(p.name for p in tickets.iterdir()) == ["exit-0", "exit-1", "exit-2"]
    (row,) = done.stdout.splitlines()[1:]
    assert row.startswith(f"{video},error,the Ray worker running it died 3 times (last: ")


def test_localize_on_ray_equals_local(cluster, generated_videos, ckpt, env, tmp_path):
    video = shutil.copyfile(generated_videos["landscape"], tmp_path / "long.mp4")
    options = ("-c", ckpt, "--classes", "0,1,2", "--min-score", "0", "--windows", "16,32",
               "-f", "json")
    local = stcli("localize", video, *options, env=env)
    remote = stcli("localize", video, *options, *on_ray(cluster, 1), env=env)
    assert local.returncode == remote.returncode == 0, remote.stderr
    assert untimed(remote.stdout) == untimed(local.stdout)
    assert '"label": ' in local.stdout  # segments were found, and compared


def test_workers_run_the_network_on_their_threads(cluster, ckpt, env):
    from stcli.executors.ray import WorkerPool
    from stcli.settings import ClassifySettings, ExecutorSettings, ModelSpec
    from stcli.tasks.classify import Recognizer

    options = ExecutorSettings("ray", workers=2, threads_per_worker=1)
    spec = ModelSpec("k400", ckpt, backend="onnxruntime")
    # This process is the cluster's driver already: the pool uses its connection.
    with WorkerPool(options, Recognizer, spec, ClassifySettings(views="1x1"), "k400") as pool:
        assert pool.threads() == [1, 1]  # not every core of the machine, as by default


def test_local_executor_refuses_ray_options(folder, ckpt, env):
    done = stcli("classify", folder, "-c", ckpt, "--workers", "2", env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == "stcli: error: --workers goes with --executor ray"
