"""A real S3-compatible server (moto in server mode) on 127.0.0.1, for storage-URI tests."""

import socket
import subprocess
import time
from dataclasses import dataclass

from pyarrow import fs as pafs

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class S3Server:
    port: int

    def uri(self, path: str) -> str:
        """An s3:// URI that pyarrow (and so Ray Tune) resolves to this server."""
        return f"s3://{path}?endpoint_override=127.0.0.1:{self.port}&scheme=http"

    def filesystem(self) -> pafs.S3FileSystem:
        return pafs.S3FileSystem(
            access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region=CREDENTIALS["AWS_DEFAULT_REGION"],
            endpoint_override=f"127.0.0.1:{self.port}",
            scheme="http",
            allow_bucket_creation=True,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_s3_server(deadline_s: float = 60):
    """Start `moto_server` on a free loopback port; returns (process, S3Server) once it answers."""
    port = free_port()
    process = subprocess.Popen(
        ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, S3Server(port)
        except OSError:
            time.sleep(0.2)  # polling a port until it answers, with a deadline
    process.kill()
    raise RuntimeError(f"moto_server did not answer on 127.0.0.1:{port} within {deadline_s}s")
