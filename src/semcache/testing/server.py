"""A real ``semcache serve`` process, for end-to-end tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

__all__ = ["ServerProcess", "free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """Starts ``python -m semcache serve`` on a free port and waits until it answers.

    ``tls`` is ``None`` for plain HTTP, ``"auto"`` for the server's own local CA, or a
    ``(cert, key, ca)`` triple of paths. ``quickstart`` holds the quick-start values.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        tls: str | tuple[Path, Path, Path] | None = None,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.tls = tls
        self.args = args or []
        self.env = env or {}
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    @property
    def scheme(self) -> str:
        return "http" if self.tls is None else "https"

    @property
    def url(self) -> str:
        return f"{self.scheme}://localhost:{self.port}"

    @property
    def ca_file(self) -> Path | None:
        if self.tls is None:
            return None
        if self.tls == "auto":
            return self.data_dir / "tls" / "ca.pem"
        return Path(self.tls[2])

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What an httpx client needs to trust this server."""
        ca_file = self.ca_file
        return ssl.create_default_context(cafile=str(ca_file)) if ca_file else True

    @property
    def quickstart(self) -> dict[str, str]:
        values = {}
        for line in (self.data_dir / "quickstart.env").read_text().splitlines():
            name, _, value = line.partition("=")
            values[name] = value
        return values

    @property
    def admin_key(self) -> str:
        return (self.data_dir / "admin.key").read_text().strip()

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "semcache", "serve", "--data-dir", str(self.data_dir)]
        command += ["--port", str(self.port), *self.args]
        if self.tls is None:
            command.append("--no-tls")
        elif isinstance(self.tls, tuple):
            cert, key, _ = self.tls
            command += ["--tls-cert", str(cert), "--tls-key", str(key)]
        return command

    def start(self, timeout: float = 90.0) -> ServerProcess:
        env = {**os.environ, **self.env}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                # The verify context is made anew: with tls="auto" the CA appears at start-up.
                response = httpx.get(f"{self.url}/healthz", verify=self.verify, timeout=1)
                if response.status_code == 200:
                    return
            except (httpx.HTTPError, OSError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server as an operator would, with SIGTERM."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """Kill the server at once, with SIGKILL: a crash."""
        self._signal(signal.SIGKILL, 10.0)

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()

    def _signal(self, signum: int, timeout: float) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signum)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
