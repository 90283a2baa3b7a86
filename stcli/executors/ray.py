"""The Ray executor: a task's per-video function on the actors of a Ray cluster.

Each actor (``_Worker``) is granted ``threads_per_worker`` CPUs, runs its network on as
many threads (``engines.limit_threads``), loads the model once from the run's
:class:`~stcli.settings.ModelSpec` and builds the task's ``VideoJob`` from the run's
settings: the function the local executor runs, one path at a time, so the records are
the same. Videos are read by the workers from their paths (shared storage); only paths
go out and result records come back through Ray.

The driver (``WorkerPool.map``) keeps every actor busy with up to ``QUEUED`` videos,
stays at most ``AHEAD`` videos in front of the oldest unfinished one (bounded memory),
and yields the records in input order. A video whose worker died (crash, OOM kill, lost
node) is sent again to another actor up to ``retries`` times, then becomes an error
record naming the failure; the dead actor is replaced. A failing video is an error
record, as it is locally; any other exception in a worker is a bug and ends the run.

``import ray`` happens here only, and only when this executor runs.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..engines.backends import limit_threads, network_threads
from ..errors import ClusterError, StcliError, UsageError, extra_missing
from ..results import Result, VideoFailure
from ..settings import ExecutorSettings, ModelSpec

if TYPE_CHECKING:
    from ..loader import LoadedModel
    from ..settings import _Settings

log = logging.getLogger(__name__)
RETRIES = 2  # more attempts for a video whose worker died, on another actor
QUEUED = 2  # videos waiting at each actor, so that it never idles between two
AHEAD = 4  # per actor: how far the driver runs ahead of the oldest unfinished video
# Tests only: "FOLDER:N" makes a worker exit abruptly (os._exit) as it starts a video,
# for each of N ticket files it is first to create in FOLDER: a worker dying mid-run.
TEST_EXIT_ENV = "STCLI_TEST_WORKER_EXIT"


def import_ray() -> Any:
    """The ``ray`` module, or the one-line error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise extra_missing("--executor ray", "ray") from None
    return ray


class _Worker:
    """A Ray actor's state: the loaded model and the task's per-video function."""

    def __init__(self, model_class: type[LoadedModel], spec: ModelSpec,
                 settings: _Settings, threads: int) -> None:
        limit_threads(threads)
        self.error: StcliError | None = None
        try:
            self.model = model_class.load(spec, progress=False)
            self.job = self.model.video_job(settings)  # type: ignore[attr-defined]
        except StcliError as exc:  # told to the driver by ``ready``, as the error it is
            self.error = exc

    def ready(self) -> dict[str, Any]:
        """The worker's process and network threads, once its model is loaded."""
        if self.error is not None:
            raise self.error
        return {"pid": os.getpid(), "threads": network_threads(self.model.engine),
                "engine": self.model.backend}

    def run(self, path: str) -> Result:
        """The record of one video: the task's own per-video function."""
        _test_exit()
        return self.job.run_one(path)


def _test_exit() -> None:
    """The test hook of ``TEST_EXIT_ENV`` (see there); nothing when it is not set."""
    value = os.environ.get(TEST_EXIT_ENV)
    if not value:
        return
    folder, _, count = value.rpartition(":")
    for ticket in range(int(count)):
        try:
            os.close(os.open(os.path.join(folder, f"exit-{ticket}"),
                             os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        os._exit(1)


def _quiet_stdout(ray: Any) -> None:
    """Keep Ray's messages about dead workers off stdout, which carries results only.

    A driver prints the cluster's error messages ("A worker died or was killed ...") to
    stdout, whatever ``log_to_driver`` says; here each such death is reported once, as a
    warning on stderr naming the video (``WorkerPool.map``). Ray has no public switch:
    this is the flag its own debugger clears to silence the same printer.
    """
    worker = getattr(getattr(ray, "_private", None), "worker", None)
    if worker is not None and hasattr(worker, "_worker_logs_enabled"):
        worker._worker_logs_enabled = False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


class WorkerPool:
    """Ray actors running one task's per-video function; a context manager that connects
    to (or starts) the cluster, starts the actors and waits for their models, and on
    exit stops the actors and the cluster it started."""

    def __init__(self, options: ExecutorSettings, model_class: type[LoadedModel],
                 spec: ModelSpec, settings: _Settings, preset: str,
                 retries: int = RETRIES, engine: str | None = None) -> None:
        if spec.device == "cuda":
            raise UsageError("--executor ray runs its workers on CPUs: use --device cpu or "
                             "auto, or the local executor on a GPU machine")
        self.options, self.preset, self.retries = options, preset, retries
        self.engine = engine  # what this process loaded, for its reports' fingerprint
        self._args = (model_class, spec, settings, options.threads_per_worker)
        self.ray = import_ray()
        self.actors: list[Any] = []
        self.startup_s = 0.0
        self._connected = False

    # -- cluster and actors ------------------------------------------------------------------
    def __enter__(self) -> WorkerPool:
        started = time.perf_counter()
        try:
            self._connect()
            cpus = int(self.ray.cluster_resources().get("CPU", 1))
            threads = self.options.threads_per_worker
            count = self.options.workers or max(1, cpus // threads)
            if count * threads > cpus:  # an autoscaler may add nodes; else they wait
                log.warning("--workers %d x --threads-per-worker %d is more than the "
                            "cluster's %d CPUs: the others wait for room", count, threads,
                            cpus)
            self.actors = [self._start_actor() for _ in range(count)]
            info = self._wait_ready(self.actors)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.startup_s = time.perf_counter() - started
        log.debug("ray: %d workers ready in %.1f s: %s", len(self.actors), self.startup_s,
                  info)
        return self

    def _connect(self) -> None:
        ray, address = self.ray, self.options.ray_address or os.environ.get("RAY_ADDRESS")
        _quiet_stdout(ray)
        if ray.is_initialized():  # this process is already a driver (a notebook, a test)
            return
        common = {"include_dashboard": False, "log_to_driver": False,
                  "logging_level": logging.WARNING, "configure_logging": False}
        try:
            if address:
                ray.init(address=address, **common)
            else:
                # A cluster of this run only, on this machine, reachable from it alone.
                workers = self.options.workers or 0
                cpus = max(workers * self.options.threads_per_worker, os.cpu_count() or 1)
                ray.init(address="local", num_cpus=cpus, _node_ip_address="127.0.0.1",
                         **common)
        except Exception as exc:  # noqa: BLE001 - ray raises many types for one cause
            where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
            raise ClusterError(f"--executor ray: cannot connect to {where} "
                               f"({_first_line(exc)}); check --ray-address / RAY_ADDRESS "
                               "and that 'ray status' sees the cluster") from None
        self._connected = True

    def _start_actor(self) -> Any:
        options: dict[str, Any] = {"num_cpus": self.options.threads_per_worker}
        if os.environ.get(TEST_EXIT_ENV):
            options["runtime_env"] = {"env_vars": {TEST_EXIT_ENV: os.environ[TEST_EXIT_ENV]}}
        actor_class = self.ray.remote(_Worker)
        return actor_class.options(**options).remote(*self._args)

    def _wait_ready(self, actors: list[Any]) -> list[dict[str, Any]]:
        """Each actor's ``ready`` answer; a model that cannot load ends the run with the
        worker's own error, a worker that cannot start with a ``ClusterError``."""
        ray = self.ray
        try:
            info = ray.get([actor.ready.remote() for actor in actors])
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, StcliError):
                raise exc.cause from None
            raise ClusterError(f"--executor ray: a worker failed to load the model "
                               f"({_first_line(exc.cause or exc)})") from None
        except ray.exceptions.RayError as exc:
            raise ClusterError(f"--executor ray: a worker could not start "
                               f"({_first_line(exc)}); is stcli installed on every node "
                               "of the cluster?") from None
        wanted = self.options.threads_per_worker
        for entry in info:
            if entry["threads"] != wanted:
                log.warning("ray worker %s runs its network on %s threads, not "
                            "--threads-per-worker %d", entry["pid"], entry["threads"], wanted)
            if self.engine is not None and entry["engine"] != self.engine:
                # The records would still be right, but not what the fingerprint says.
                log.warning("ray worker %s runs %s, this process loaded %s (recorded in "
                            "--report-dir and --shard files): install the same extras on "
                            "every node", entry["pid"], entry["engine"], self.engine)
        return info

    def threads(self) -> list[int]:
        """The network threads of each actor (``--threads-per-worker`` when all is well)."""
        return [entry["threads"] for entry in self._wait_ready(self.actors)]

    def __exit__(self, *exc_info: object) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        if self._connected:
            self.ray.shutdown()  # stops a cluster started here; else only disconnects
            self._connected = False

    # -- videos ------------------------------------------------------------------------------
    def map(self, paths: list[str]) -> Iterator[Result]:
        """One record per path, in input order, as the actors finish them."""
        ray = self.ray
        pending = deque(range(len(paths)))
        attempts = [0] * len(paths)
        finished: dict[int, Result] = {}
        running: dict[Any, tuple[int, Any]] = {}  # object ref -> (video, actor)
        load = {id(actor): 0 for actor in self.actors}
        given = 0  # records yielded so far: the oldest unfinished video is paths[given]
        ahead = AHEAD * len(self.actors)
        while given < len(paths):
            for actor in self.actors:
                while pending and load[id(actor)] < QUEUED and pending[0] < given + ahead:
                    i = pending.popleft()
                    running[actor.run.remote(paths[i])] = (i, actor)
                    load[id(actor)] += 1
            (ref,), _ = ray.wait(list(running), num_returns=1)
            i, actor = running.pop(ref)
            if id(actor) in load:  # not when it died and was replaced already
                load[id(actor)] -= 1
            try:
                finished[i] = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                self._replace(actor, load)
                attempts[i] += 1
                if attempts[i] > self.retries:
                    finished[i] = VideoFailure(
                        paths[i], f"the Ray worker running it died {attempts[i]} times "
                        f"(last: {_first_line(exc)})", self.preset)
                else:
                    log.warning("%s: its Ray worker died; trying again on another (%d of "
                                "%d)", paths[i], attempts[i], self.retries)
                    pending = deque(sorted([*pending, i]))
            except ray.exceptions.RayTaskError as exc:
                # Not a bad video (those are records): a bug, as it would be locally.
                raise (exc.cause if isinstance(exc.cause, Exception) else exc) from None
            while given in finished:
                yield finished.pop(given)
                given += 1

    def _replace(self, actor: Any, load: dict[int, int]) -> None:
        """Put a new actor in the place of a dead one (once, however many of its videos
        report its death)."""
        if not any(a is actor for a in self.actors):
            return
        fresh = self._start_actor()
        self.actors = [fresh if a is actor else a for a in self.actors]
        load.pop(id(actor), None)
        load[id(fresh)] = 0


def run_on_ray(options: ExecutorSettings, model_class: type[LoadedModel], spec: ModelSpec,
               settings: _Settings, paths: list[str], preset: str,
               engine: str | None = None) -> Iterator[Result]:
    """One record per path, in input order, from ``model_class(spec)``'s task run by a
    pool of Ray actors (``WorkerPool``). The cluster and the workers are set up here,
    before any record, so that a setup error comes before any output; they are released
    when the records end or the caller stops early (``close``)."""
    pool = WorkerPool(options, model_class, spec, settings, preset, engine=engine).__enter__()

    def records() -> Iterator[Result]:
        with pool:
            yield from pool.map(paths)

    return records()
