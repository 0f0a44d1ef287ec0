"""Before any trial on a multi-node cluster: does every node see the storage the driver sees,
and can every node import the user's `--arch-module`?

Ray Tune needs the run's storage reachable from every node; a folder that exists only on the
driver's machine makes checkpoints written elsewhere fail mid-sweep. The driver writes a marker
file into the run's storage and a small task pinned to each alive node reads it back. A module
that only the driver's machine has would fail every trial placed elsewhere: a small task on
each node imports it first.
"""

from __future__ import annotations

import contextlib
import socket
import uuid

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from reports import storage
from sweeps.values import SpecError

PREFLIGHT_TIMEOUT_S = 120
FIX = "use an NFS path every node mounts, or an object-store URI such as s3://bucket/runs"


@ray.remote(num_cpus=0, max_retries=0)
def _sees(location: str, token: str) -> tuple[bool, str]:
    try:
        text = storage.read_text(location)
    except Exception as err:  # any failure to read is the answer, reported to the driver
        return False, f"cannot read it ({type(err).__name__}: {err})"
    if text is None:
        return False, "it is not there"
    return text == token, "" if text == token else "it holds another sweep's marker"


@ray.remote(num_cpus=0, max_retries=0)
def _imports(module: str) -> tuple[bool, str]:
    import importlib

    try:
        importlib.import_module(module)
    except Exception as err:  # any failure to import is the answer, reported to the driver
        return False, f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
    return True, ""


def _on_every_node(task, *args) -> list[tuple[dict, bool, str]]:
    """Run `task` once on each alive node: (node, ok, why) each, 'no answer in time' where it
    did not answer."""
    nodes = [n for n in ray.nodes() if n["Alive"]]
    pending = {
        task.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
        ).remote(*args): n
        for n in nodes
    }
    ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=PREFLIGHT_TIMEOUT_S)
    return [
        (node, *(ray.get(ref) if ref in ready else (False, "no answer in time")))
        for ref, node in pending.items()
    ]


def _where(node: dict) -> str:
    return f"{node['NodeManagerAddress']} (node {node['NodeID'][:12]})"


def check_module(module: str) -> None:
    """Refuse an --arch-module some alive node cannot import (every node runs trials).

    Raises:
        SpecError: Naming the first node that cannot, and why.
    """
    for node, ok, why in _on_every_node(_imports, module):
        if not ok:
            raise SpecError(
                f"--arch-module: node {_where(node)} cannot import {module!r} ({why}); install "
                "it on every node, or put it where every node's PYTHONPATH finds it."
            )


def check_shared_storage(run_location: str) -> None:
    """Refuse storage some alive node cannot see; a single-node cluster needs no check.

    Raises:
        SpecError: Naming the first node that cannot see it, and the fix.
    """
    nodes = [n for n in ray.nodes() if n["Alive"]]
    if len(nodes) < 2:
        return
    token = uuid.uuid4().hex
    marker = storage.join(run_location, f".preflight-{token}")
    storage.write_text(marker, token)
    try:
        for node, ok, why in _on_every_node(_sees, marker, token):
            if not ok:
                raise SpecError(
                    f"--output-dir: node {_where(node)} does not see {run_location!r}, which the "
                    f"driver on {socket.gethostname()} sees: {why}; {FIX}."
                )
    finally:
        _remove(marker)


def _remove(location: str) -> None:
    filesystem, path = storage.resolve(location)
    # A marker that cannot be removed is harmless; it must not hide the check's own outcome.
    with contextlib.suppress(OSError):
        filesystem.delete_file(path)
