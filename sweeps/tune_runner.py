"""Ray Tune glue: start or join Ray, run the grid, one bnlab training run per trial."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

import ray
from ray import tune
from ray._private import services  # how `ray start` and `ray status` resolve 'auto'

from bnlab import FashionMNIST, TrialConfig
from reports import storage
from sweeps import preflight, tune_progress
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
# Workers inherit this: TensorFlow's C++ info lines would flood the driver's terminal.
WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}


def _resolve_address(address: str) -> tuple[str, int]:
    """HOST, PORT of the cluster `--address` names ('auto': the one `ray start` made here)."""
    if address == "auto":
        try:
            address = services.canonicalize_bootstrap_address_or_die("auto")
        except (ConnectionError, ValueError) as err:
            raise SpecError(
                f"--address: 'auto' finds no running Ray cluster ({err}); start one with "
                "'ray start --head' or give HOST:PORT."
            ) from None
    host, _, port = address.rpartition(":")
    return host, int(port)


def _probe(host: str, port: int) -> None:
    """Fail in seconds, not minutes, when nothing answers at the cluster's address."""
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise SpecError(
            f"--address: no Ray cluster answers at {host}:{port} ({reason}); check the address "
            "and that the cluster is up ('ray status')."
        ) from None


def _give_up_joining(address: str) -> None:
    print(
        f"error: --address: the Ray cluster at {address} did not accept this driver within "
        f"{JOIN_TIMEOUT_S} s; check that it is a Ray head node and that RAY_AUTH_MODE and its "
        "token match the cluster's.",
        file=sys.stderr,
        flush=True,
    )
    os._exit(2)  # ray.init is stuck in C++ retries; nothing of ours was started


def start_ray(spec: SweepSpec) -> dict[str, float]:
    """Start the embedded local Ray, or join `spec.address`; return the cluster's resources.

    Joining is bounded: the address is probed first and `ray.init` gets `JOIN_TIMEOUT_S`.
    On a cluster of several nodes, every node must see the run's storage (`preflight`).

    Raises:
        SpecError: If no cluster answers at the address, a trial asks for more CPUs or GPUs
            than any node has, or a node cannot see the run's storage.
    """
    runtime_env = {"env_vars": WORKER_ENV}
    # Ray's and Tune's INFO lines (session started, files written, run time) only with --verbose.
    logging_level = logging.INFO if spec.verbose else logging.WARNING
    if spec.address:
        host, port = _resolve_address(spec.address)
        _probe(host, port)
        watchdog = threading.Timer(JOIN_TIMEOUT_S, _give_up_joining, args=(f"{host}:{port}",))
        watchdog.daemon = True
        watchdog.start()
        try:
            ray.init(
                address=f"{host}:{port}",
                runtime_env=runtime_env,
                log_to_driver=False,
                logging_level=logging_level,
            )
        finally:
            watchdog.cancel()
    else:
        ray.init(
            num_cpus=spec.num_cpus,
            num_gpus=spec.num_gpus,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            runtime_env=runtime_env,
            log_to_driver=False,
            logging_level=logging_level,
        )
    resources = ray.cluster_resources()
    if spec.address:
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
                f"the largest node of the cluster at {spec.address}",
            )
            preflight.check_shared_storage(spec.run_location)
        except Exception:
            ray.shutdown()
            raise
    return resources


def stop_ray() -> None:
    """Disconnect from a joined cluster, or stop the embedded Ray and all its processes."""
    ray.shutdown()


def _tune_report_callback(history, trial_info, checkpoint_seconds: float):
    """A Keras callback that reports each epoch to Tune, with a checkpoint of the run so far
    when `checkpoint_seconds` have passed since the last one (0: every epoch).

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
            metrics = {**row, **trial_info, "status": "running", "final": False}
            if time.monotonic() - self.last_checkpoint < checkpoint_seconds:
                tune.report(metrics)
                return
            with tempfile.TemporaryDirectory() as folder:
                TrainState.capture(self.model, self.history).save(folder)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
            self.last_checkpoint = time.monotonic()

    return TuneReport()


def run_trial(params: dict, data: FashionMNIST, checkpoint_seconds: float) -> None:
    """Tune's function trainable: one bnlab training run, resumed from its last checkpoint."""
    from bnlab import TrainState, train

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
    state = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = TrainState.load(folder)
    history = state.history if state else ()
    callback = _tune_report_callback(history, trial_info, checkpoint_seconds)
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


def _trainable(spec: SweepSpec, data: FashionMNIST):
    # with_parameters puts the uint8 dataset into the object store once; trials get a reference.
    trainable = tune.with_parameters(
        run_trial, data=data, checkpoint_seconds=spec.checkpoint_seconds
    )
    return tune.with_resources(trainable, {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})


def _storage(location: str):
    """Tune's storage: a local folder as is, or a URI as its pyarrow filesystem and path."""
    if not storage.is_uri(location):
        return None, location
    return storage.resolve(location)


def slots(spec: SweepSpec, resources: dict[str, float]) -> int:
    """How many trials the cluster runs at once."""
    fit = resources.get("CPU", 0) // spec.cpus_per_trial
    if spec.gpus_per_trial:
        fit = min(fit, resources.get("GPU", 0) // spec.gpus_per_trial)
    if spec.max_concurrent:
        fit = min(fit, spec.max_concurrent)
    return max(int(fit), 1)


def _run_config(experiment: Experiment) -> tune.RunConfig:
    filesystem, path = _storage(experiment.under)
    return tune.RunConfig(
        name=experiment.name,
        storage_path=path,
        storage_filesystem=filesystem,
        failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT),
        progress_reporter=tune_progress.SweepProgress(),
        verbose=1,  # Tune calls the progress reporter from verbosity 1
    )


def run_sweep(
    spec: SweepSpec, data: FashionMNIST, view: ProgressView, experiment: Experiment | None = None
) -> tune.ResultGrid:
    """Run (or resume) an experiment, the grid by default, on the Ray that `start_ray` started
    or joined, drawing `view`."""
    experiment = experiment or grid_experiment(spec)
    with tune_progress.showing(spec, view, experiment.configs), _own_signal_handlers():
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


def _fit(spec: SweepSpec, data: FashionMNIST, experiment: Experiment) -> tune.ResultGrid:
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
            run_config=_run_config(experiment),
        )
    return tuner.fit()
