"""Local multi-node Ray clusters, started with the commands of docs/cluster.md and stopped
without touching any other Ray.

Each node runs the documented steps as written (the head makes its token, a worker joins with
the head's token in `RAY_AUTH_TOKEN`), with flags that keep a test cluster to itself added to
each `ray start`: the head in a `HOME` and a Ray temp folder of its own (`RAY_TMPDIR`), each
worker in another empty `HOME`, as on a machine of its own. `ray stop --force` would kill every
Ray process on the machine, including the embedded Ray of a sweep another test runs at the same
time; a cluster here is stopped by killing the processes that name its temp folder.
"""

import contextlib
import os
import re
import shlex
import subprocess
import tempfile
from pathlib import Path

import psutil

from tests.storage import free_port

DOCS = Path(__file__).resolve().parents[1] / "docs" / "cluster.md"
NODE = ["--node-ip-address=127.0.0.1", "--num-gpus=0", "--disable-usage-stats"]
DOCUMENTED_PORT = "6379"


def documented_steps() -> tuple[list[str], list[str]]:
    """The head's and a worker's commands from docs/cluster.md's first bash block."""
    block = re.search(r"## Starting the cluster.*?```bash\n(.*?)```", DOCS.read_text(), re.S)
    assert block, f"{DOCS} has no bash block under '## Starting the cluster'"
    head, worker = block[1].split("\n\n")

    def commands(part: str) -> list[str]:
        lines = (line.split("  #")[0].strip() for line in part.splitlines())
        return [line for line in lines if line and not line.startswith("#")]

    return commands(head), commands(worker)


def _script(commands: list[str], extra: list[str], values: dict[str, str]) -> str:
    """The commands as one shell script: `ray start` gets the `extra` flags, the documented
    placeholders and port their values."""
    lines = []
    for command in commands:
        for placeholder, value in values.items():
            command = command.replace(placeholder, value)
        if command.startswith("ray start"):
            command += " " + shlex.join(extra)
        lines.append(command)
    return "set -e\n" + "\n".join(lines)


class Cluster:
    """A head node (`head_flags` added to its `ray start`), then `join` for more nodes.

    Attributes:
        address: HOST:PORT of the head.
        token: The head's token, as `ray get-auth-token --generate` made it.
        driver_env: What a driver on another machine needs to join (RAY_AUTH_MODE, the token).
    """

    def __init__(self, head_flags=(), env=None):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Short: Ray's socket paths under it must stay within the system's limit.
        self.temp_dir = tempfile.mkdtemp(prefix="rc-", dir="/tmp")
        self.home = Path(self.temp_dir) / "head-home"
        self.home.mkdir()
        self.env = {**os.environ, "HOME": str(self.home), "RAY_TMPDIR": self.temp_dir, **(env or {})}  # fmt: skip
        self.env.pop("RAY_AUTH_TOKEN", None)
        self.env.pop("RAY_ADDRESS", None)
        head, self._worker = documented_steps()
        self._run(_script(head, [*NODE, *head_flags], {DOCUMENTED_PORT: str(self.port)}))
        self.token = (self.home / ".ray" / "auth_token").read_text().strip()
        self.driver_env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}

    def _run(self, script: str, env=None, wrap=None) -> subprocess.CompletedProcess:
        argv = ["bash", "-c", script]
        done = subprocess.run(
            wrap(argv) if wrap else argv, env=env or self.env, capture_output=True, text=True
        )
        if done.returncode != 0:
            self.stop()
            raise RuntimeError(
                f"the documented cluster steps failed (exit {done.returncode}):\n{script}\n"
                f"{done.stderr[-2000:]}"
            )
        return done

    def join(self, *flags, wrap=None, env=None) -> subprocess.CompletedProcess:
        """A worker node, in an empty HOME of its own, with the head's token (`wrap(argv)` may
        wrap its shell, e.g. in a mount namespace; `env` adds to its environment)."""
        home = Path(tempfile.mkdtemp(prefix="worker-home-", dir=self.temp_dir))
        values = {"<token>": self.token, "<head-ip>": "127.0.0.1", DOCUMENTED_PORT: str(self.port)}
        script = _script(self._worker, [*NODE, *flags], values)
        return self._run(script, env={**self.env, "HOME": str(home), **(env or {})}, wrap=wrap)

    def raylets(self) -> list[psutil.Process]:
        return [p for p in self._own() if p.info["name"] == "raylet"]

    def _own(self) -> list[psutil.Process]:
        mine = []
        for process in psutil.process_iter(["name", "cmdline"]):
            with contextlib.suppress(psutil.Error):
                if self.temp_dir in " ".join(process.info["cmdline"] or []):
                    mine.append(process)
        return mine

    def stop(self) -> None:
        family = []
        for process in self._own():
            with contextlib.suppress(psutil.Error):
                family += [process, *process.children(recursive=True)]
        for process in family:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(family, timeout=30)
