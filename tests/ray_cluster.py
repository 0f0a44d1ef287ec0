"""Local multi-node Ray clusters made with `ray start`, stopped without touching any other Ray.

`ray stop --force` kills every Ray process on the machine, including the embedded Ray of a
sweep that another test runs at the same time; each cluster here has a temp folder of its own,
and stopping it kills the processes that name that folder and their children.
"""

import contextlib
import os
import subprocess
import tempfile

import psutil

from tests.storage import free_port

NODE = ["--node-ip-address=127.0.0.1", "--num-gpus=0", "--disable-usage-stats"]
ENV = {**os.environ, "RAY_AUTH_MODE": "token"}


class Cluster:
    def __init__(self, head_flags=(), env=None):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Short: Ray's socket paths under it must stay within the system's limit.
        self.temp_dir = tempfile.mkdtemp(prefix="rc-", dir="/tmp")
        self.env = {**ENV, **(env or {})}
        self.start("--head", f"--port={self.port}", *head_flags)

    def start(self, *flags, wrap=None):
        """Start a node (`wrap(argv)` may wrap its command); returns the completed process."""
        argv = ["ray", "start", f"--temp-dir={self.temp_dir}", *NODE, *flags]
        done = subprocess.run(
            wrap(argv) if wrap else argv, env=self.env, capture_output=True, text=True
        )
        if done.returncode != 0:
            self.stop()
            raise RuntimeError(f"ray start failed: {done.stderr[-2000:]}")
        return done

    def join(self, *flags, wrap=None):
        return self.start(f"--address={self.address}", *flags, wrap=wrap)

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
