"""Ray Tune glue: start or join Ray, run the grid, one bnlab training run per trial."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import ray
from ray import tune
from ray._private import services  # how `ray start` and `ray status` resolve 'auto'
from ray._private import worker as ray_worker
from ray.tune.logger import TBXLoggerCallback

from bnlab import Dataset, TrialConfig
from bnlab.user_archs import module_root, user_archs
from reports import storage
from sweeps import checkpoints, preflight, room, startup, tune_progress
from sweeps.node_guard import NodeGuard
from sweeps.progress import ProgressView
from sweeps.spec import SpecError, SweepSpec, check_fits
from sweeps.tune_progress import TRIAL_KEY

MAX_FAILURES = 3
# Tune forces an experiment-state snapshot once a trial has saved `num_to_keep` checkpoints since
# the last snapshot, and warns when one comes less than 5 s after the previous. With two kept and
# a trial's checkpoints `--checkpoint-seconds` (10 s) apart, a forced snapshot comes 10 s or more
# after the last one; Tune's own periodic snapshot (every 10 s or more) mostly comes first.
CHECKPOINTS_KEPT = 2
CONNECT_TIMEOUT_S = 5
JOIN_TIMEOUT_S = 60
START_TIMEOUT_S = 90  # seen here: 3-8 s; under a memory cap it never ends
_guard: NodeGuard | None = None  # the embedded Ray's, while it runs
_borrowed = False  # the caller's own Ray (ray.init() in a notebook): used, left running
# Workers inherit this: TensorFlow's C++ info lines would flood the driver's terminal.
WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}


def _resolve_address(address: str, source: str) -> tuple[str, int]:
    """HOST, PORT of the cluster `--address` names ('auto': the one `ray start` made here)."""
    if address == "auto":
        try:
            address = services.canonicalize_bootstrap_address_or_die("auto")
        except (ConnectionError, ValueError) as err:
            raise SpecError(
                f"{source}: 'auto' finds no running Ray cluster ({err}); start one with "
                "'ray start --head' or give HOST:PORT."
            ) from None
    host, _, port = address.rpartition(":")
    return host, int(port)


def _probe(host: str, port: int, source: str) -> None:
    """Fail in seconds, not minutes, when nothing answers at the cluster's address."""
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise SpecError(
            f"{source}: no Ray cluster answers at {host}:{port} ({reason}); check the address "
            "and that the cluster is up ('ray status')."
        ) from None


def start_ray(spec: SweepSpec, pressed: list, again: str, continue_with: str) -> dict[str, float]:
    """Start the embedded local Ray, or join `spec.address`; return the cluster's resources.

    Bounded: joining probes the address first, and `ray.init` gets `JOIN_TIMEOUT_S` to join
    or `START_TIMEOUT_S` to start; a stop signal recorded in `pressed` meanwhile ends it at
    once (`startup.bounded`; `again` is the command to run again). On a cluster of several
    nodes, every node must see the run's storage (`preflight`). An embedded Ray is guarded
    until `stop_ray` (`node_guard`; `continue_with` is the command to continue the run).

    Raises:
        SpecError: If Ray cannot start, no cluster answers at the address, a trial asks for
            more CPUs or GPUs than any node has, or a node cannot see the run's storage.
    """
    global _borrowed
    interrupted = f"interrupted while Ray was starting; its processes were stopped and nothing was changed; run again: {again}"  # fmt: skip
    if ray.is_initialized():  # the caller's own Ray, as Tune would use it
        if spec.address:
            raise SpecError(
                f"{spec.address_source}: Ray already runs in this process (ray.init() was "
                "called), so the sweep cannot join another cluster; leave out the address to "
                "run on it, or call ray.shutdown() first."
            )
        _borrowed = True
        return _check_cluster(spec, joined=True)
    if spec.address:
        host, port = _resolve_address(spec.address, spec.address_source)
        _probe(host, port, spec.address_source)
        too_long = (
            f"error: {spec.address_source}: the Ray cluster at {host}:{port} did not accept this driver "
            f"within {JOIN_TIMEOUT_S} s; check that it is a Ray head node and that "
            "RAY_AUTH_MODE and its token match the cluster's."
        )
        with startup.bounded(JOIN_TIMEOUT_S, pressed, too_long, interrupted):
            _init(spec, address=f"{host}:{port}")
    else:
        too_long = (
            f"error: the embedded Ray did not start within {START_TIMEOUT_S} s (a memory cap "
            "such as ulimit -v, or too little shared memory in /dev/shm?); its processes were "
            "stopped. Run with --verbose for Ray's own log."
        )
        with startup.bounded(START_TIMEOUT_S, pressed, too_long, interrupted):
            # 'local': always a new Ray of its own; without it ray.init joins a cluster that
            # `ray start` left on this machine.
            _init(spec, address="local", num_cpus=spec.num_cpus, num_gpus=spec.num_gpus,
                  include_dashboard=False, _node_ip_address="127.0.0.1")  # fmt: skip
        global _guard
        _guard = NodeGuard(continue_with, spec.verbose)
    return _check_cluster(spec, joined=bool(spec.address))


def _worker_env(spec: SweepSpec) -> dict[str, str]:
    """The trial workers' environment: quiet, and able to import the user's --arch-module from
    where the driver imported it."""
    env = dict(WORKER_ENV)
    if spec.arch_module:
        paths = [module_root(spec.arch_module), os.environ.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def _init(spec: SweepSpec, **where) -> None:
    # Ray's and Tune's INFO lines (session started, files written, run time) only with --verbose.
    logging_level = logging.INFO if spec.verbose else logging.WARNING
    try:
        with _ray_processes_ignore_warnings():
            ray.init(
                **where,
                runtime_env={"env_vars": _worker_env(spec)},
                log_to_driver=False,
                logging_level=logging_level,
            )
    except Exception as err:  # Ray raises a plain Exception for a node that timed out starting
        startup.kill_children()
        joining = where["address"] if where["address"] != "local" else None
        raise SpecError(startup.explain(err, joining)) from None


def _ray_processes_ignore_warnings():
    """The processes `ray.init` starts inherit this environment: a PYTHONWARNINGS=error meant
    for the user's code would make Ray's own dashboard and agents die of their dependencies'
    deprecation warnings, and Ray's start time out. The driver keeps the user's setting."""
    return mock.patch.dict(os.environ, {"PYTHONWARNINGS": WORKER_ENV["PYTHONWARNINGS"]})


def _check_cluster(spec: SweepSpec, joined: bool) -> dict[str, float]:
    resources = ray.cluster_resources()
    if joined:
        try:
            largest = max(
                (n["Resources"] for n in ray.nodes() if n["Alive"]),
                key=lambda r: (r.get("CPU", 0), r.get("GPU", 0)),
            )
            check_fits(
                spec.cpus_per_trial,
                spec.gpus_per_trial,
                largest.get("CPU", 0),
                largest.get("GPU", 0),
                f"the largest node of the cluster at {spec.address or 'this process'}",
            )
            preflight.check_shared_storage(spec.run_location)
            if spec.arch_module:
                preflight.check_module(spec.arch_module)
        except Exception:
            if not _borrowed:
                ray.shutdown()
            raise
    return resources


def stop_ray() -> None:
    """Disconnect from a joined cluster, or stop the embedded Ray and all its processes; the
    caller's own Ray is left running."""
    global _guard, _borrowed
    if _borrowed:
        _borrowed = False
        return
    if _guard is not None:
        _guard.stop_watching()
        _stop_autoscaler_monitor()
    ray.shutdown()
    if _guard is not None:
        _guard.release()
        _guard = None


def _stop_autoscaler_monitor() -> None:
    """Kill the embedded Ray's autoscaler monitor before `ray.shutdown`. Ray stops it after the
    GCS, with SIGTERM: its handler then reports its own end to the GCS that is gone and is
    killed a second later, a second of every sweep's end (benchmarks/RESULTS.md, "The --quick
    tail"). A local node has nothing for it to scale or save."""
    node = ray_worker._global_node
    if node is not None and node.is_head():
        node.kill_monitor(check_alive=False)


def _tune_report_callback(history, trial_info, checkpoint_seconds: float, epochs: int):
    """A Keras callback that reports each epoch to Tune, with a checkpoint of the run so far
    when `checkpoint_seconds` have passed since the last one (0: every epoch).

    The last of the `epochs` is left to the trial's final report, which carries its numbers:
    each report waits for the driver to take it, and for a one-epoch trial that wait was
    half of Tune's cost per trial.

    A retried or resumed trial repeats the epochs after its last checkpoint; training is
    deterministic, so it reports the same numbers again and the reports keep the later row.
    Built here rather than at module level so this module imports without TensorFlow.
    """
    import keras

    from bnlab import TrainState

    class TuneReport(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.history = list(history)
            self.last_checkpoint = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            row = {"epoch": epoch + 1, **{k: float(v) for k, v in logs.items()}}
            self.history.append(row)
            if epoch + 1 == epochs:
                return
            metrics = {**row, **trial_info, "status": "running", "final": False}
            if time.monotonic() - self.last_checkpoint < checkpoint_seconds:
                tune.report(metrics)
                return
            with contextlib.ExitStack() as stack:
                try:
                    folder = stack.enter_context(tempfile.TemporaryDirectory())
                    TrainState.capture(self.model, self.history).save(folder)
                except OSError as err:  # e.g. a full TMPDIR: train on, say it once
                    where = tempfile.gettempdir()
                    problem = (
                        f"checkpoints skipped: cannot write to {where} ({err.strerror or err})"
                    )
                    tune.report({**metrics, "checkpoint_problem": problem})
                    return
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
            self.last_checkpoint = time.monotonic()

    return TuneReport()


def run_trial(
    params: dict, data: Dataset, checkpoint_seconds: float, user_archs: dict | None = None
) -> None:
    """Tune's function trainable: one bnlab training run, resumed from its last checkpoint.

    `user_archs`: the driver's own architectures (name -> builder), registered here as well:
    a worker is another process, where the driver's registrations (a notebook's
    `bnlab.register_arch`, an `--arch-module`) did not happen."""
    from bnlab import register_arch, train

    for name, builder in (user_archs or {}).items():
        register_arch(name, builder, replace=True)
    config = TrialConfig.from_dict(params[TRIAL_KEY])
    requested = tune.get_context().get_trial_resources().required_resources
    cpus = max(1, int(requested.get("CPU", 1)))
    trial_info = {
        "node_id": ray.get_runtime_context().get_node_id(),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "cpus": requested.get("CPU", 0),
        "gpus": requested.get("GPU", 0),
    }
    state, problem = checkpoints.newest_loadable(tune.get_checkpoint())
    if problem:
        trial_info["checkpoint_problem"] = problem
    history = state.history if state else ()
    callback = _tune_report_callback(history, trial_info, checkpoint_seconds, config.epochs)
    result = train(config, data, callbacks=[callback], threads=cpus, initial_state=state)
    last = result.history[-1] if result.history else {}
    tune.report(
        {
            **last,
            **trial_info,
            "status": result.status,
            "final": True,
            "test_loss": result.test_loss,
            "test_accuracy": result.test_accuracy,
            "params_total": result.params.total,
            "params_trainable": result.params.trainable,
            "params_non_trainable": result.params.non_trainable,
            "wall_seconds": result.wall_seconds,
            "data_source": result.data_source,
            # The whole history, from the trainer (and its checkpoints): the epoch rows that a
            # retried trial reported since Tune last copied its results to storage can be lost.
            # A string, so TensorBoard's logger passes over it.
            "history": json.dumps(result.history),
        }
    )


@dataclass(frozen=True)
class Experiment:
    """One Tune experiment of a run: the grid (in the run's own folder), or a look of a settling
    study (in RUN/look-K).

    Attributes:
        configs: Its trials.
        name: Tune's experiment name: the run's name, or 'look-K'.
        under: The storage location it lives under: --output-dir, or the run's location.
        resume: Whether to continue it from its stored state when there is one.
    """

    configs: tuple[TrialConfig, ...]
    name: str
    under: str
    resume: bool


def grid_experiment(spec: SweepSpec) -> Experiment:
    return Experiment(tuple(spec.trial_configs()), spec.name, spec.output_dir, spec.resume)


def param_space(configs) -> dict:
    """Tune's grid: one value per trial, the trial's `TrialConfig.to_dict()`.

    A list rather than a product of axes: unused values collapse (placement `none` has no norm
    kind), a preset sets fields per placement and a look adds seeds to some cells only, so the
    trials are not a plain product.
    """
    return {TRIAL_KEY: tune.grid_search([c.to_dict() for c in configs])}


def trial_folder_name(trial) -> str:
    """A trial's folder: what it is, in short, and Tune's unique trial id."""
    c = trial.config[TRIAL_KEY]
    norm = "" if c["norm"] == "none" else f"-{c['norm']}"
    return f"{c['arch']}-{c['placement']}{norm}-{c['activation']}-lr{c['lr']:g}-s{c['seed']}_{trial.trial_id}"


def _trainable(spec: SweepSpec, data: Dataset):
    # with_parameters puts the uint8 dataset into the object store once; trials get a reference.
    used = {c.arch for c in spec.trial_configs()}
    builders = {name: b for name, b in user_archs().items() if name in used}
    trainable = tune.with_parameters(
        run_trial, data=data, checkpoint_seconds=spec.checkpoint_seconds, user_archs=builders
    )
    return tune.with_resources(trainable, {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})


def _storage(location: str):
    """Tune's storage: a local folder as is, or a URI as its pyarrow filesystem and path."""
    if not storage.is_uri(location):
        return None, location
    return storage.resolve(location, patient=True)


def slots(spec: SweepSpec, resources: dict[str, float]) -> int:
    """How many trials the cluster runs at once."""
    fit = resources.get("CPU", 0) // spec.cpus_per_trial
    if spec.gpus_per_trial:
        fit = min(fit, resources.get("GPU", 0) // spec.gpus_per_trial)
    if spec.max_concurrent:
        fit = min(fit, spec.max_concurrent)
    return max(int(fit), 1)


# Why the sweep was stopped from inside (its folder full, read-only or gone), for the driver.
stopped_because: str | None = None


class GuardStopper(tune.Stopper):
    """Stops the whole experiment once `room.StorageGuard` finds the run folder in trouble.

    Tune pickles it with the experiment; a resumed run must not inherit an old reason, so only
    the folder and the space to keep travel."""

    def __init__(self, run_dir: str, keep_free: int):
        self.run_dir, self.keep_free = run_dir, keep_free
        self._guard = room.StorageGuard(Path(run_dir), keep_free)

    def __getstate__(self):
        return {"run_dir": self.run_dir, "keep_free": self.keep_free}

    def __setstate__(self, state):
        self.__init__(state["run_dir"], state["keep_free"])

    def __call__(self, trial_id, result) -> bool:
        return False

    def stop_all(self) -> bool:
        """Stop as Ctrl+C does, not by Tune's stop: trials Tune stops itself end TERMINATED
        and a resume would not continue them; an interrupted experiment resumes whole."""
        global stopped_because
        problem = self._guard.problem()
        if problem and stopped_because is None:
            stopped_because = problem
            os.kill(os.getpid(), signal.SIGINT)
        return False


class EpochsToTensorBoard(TBXLoggerCallback):
    """TensorBoard gets one point per epoch: a trial's final report carries its last epoch
    (with the test metrics), unless a diverged trial already reported that epoch."""

    def __init__(self):
        super().__init__()
        self._last_epoch: dict[str, int] = {}

    def log_trial_result(self, iteration, trial, result):
        epoch = int(result.get("epoch", 0))
        if epoch > self._last_epoch.get(trial.trial_id, 0):
            self._last_epoch[trial.trial_id] = epoch
            super().log_trial_result(iteration, trial, result)


def _run_config(spec: SweepSpec, experiment: Experiment) -> tune.RunConfig:
    filesystem, path = _storage(experiment.under)
    stop = None
    if not spec.remote:
        slots = max(1, spec.max_concurrent or spec.num_cpus or 1)
        largest = max((room.checkpoint_bytes(c, spec.shape) for c in experiment.configs), default=0)
        stop = GuardStopper(str(spec.run_dir), room.MIN_FREE + 2 * slots * largest)
    return tune.RunConfig(
        name=experiment.name,
        stop=stop,
        callbacks=[EpochsToTensorBoard()],
        storage_path=path,
        storage_filesystem=filesystem,
        failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT),
        progress_reporter=tune_progress.SweepProgress(),
        verbose=1,  # Tune calls the progress reporter from verbosity 1
    )


def run_sweep(
    spec: SweepSpec,
    data: Dataset,
    view: ProgressView,
    experiment: Experiment | None = None,
    earlier=(),
) -> tune.ResultGrid:
    """Run (or resume) an experiment, the grid by default, on the Ray that `start_ray` started
    or joined, drawing `view` (with a settling run's `earlier` trials, see
    `tune_progress.showing`)."""
    experiment = experiment or grid_experiment(spec)
    with tune_progress.showing(spec, view, experiment.configs, earlier), _own_signal_handlers():
        return _fit(spec, data, experiment)


@contextlib.contextmanager
def _own_signal_handlers():
    """Tune installs its own Ctrl+C (and SIGUSR1) handler for a run and leaves it installed
    when the run ends without one: a later Ctrl+C (between looks, while the report is written)
    would only print Tune's warning. Put ours back."""
    names = [n for n in ("SIGINT", "SIGUSR1") if hasattr(signal, n)]
    saved = {n: signal.getsignal(getattr(signal, n)) for n in names}
    try:
        yield
    finally:
        for name, handler in saved.items():
            signal.signal(getattr(signal, name), handler)


def _fit(spec: SweepSpec, data: Dataset, experiment: Experiment) -> tune.ResultGrid:
    filesystem, root = _storage(experiment.under)
    path = f"{root.rstrip('/')}/{experiment.name}"
    space = param_space(experiment.configs)
    if experiment.resume and tune.Tuner.can_restore(path, storage_filesystem=filesystem):
        tuner = tune.Tuner.restore(
            path,
            storage_filesystem=filesystem,
            trainable=_trainable(spec, data),
            resume_unfinished=True,
            resume_errored=True,
            param_space=space,
        )
    else:
        tuner = tune.Tuner(
            _trainable(spec, data),
            param_space=space,
            tune_config=tune.TuneConfig(
                max_concurrent_trials=spec.max_concurrent or None,
                # One worker process runs trial after trial: TensorFlow is imported once per
                # worker, not once per trial (about 4 s each on a laptop CPU).
                reuse_actors=True,
                trial_dirname_creator=trial_folder_name,
                metric="val_accuracy",
                mode="max",
            ),
            run_config=_run_config(spec, experiment),
        )
    return tuner.fit()
