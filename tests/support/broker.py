"""The queue for the tests: a real Redis server (Debian's redis-server) and real
Celery worker and beat processes, each on 127.0.0.1, stopped after the test.

The Redis server keeps its jobs on disk (`appendonly yes`, as scripts/broker.sh
runs it), and can be killed, frozen (SIGSTOP: it accepts connections and never
answers) and started again on the same port and files.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import redis

from tests.support.polling import eventually
from tests.support.servers import ROOT, free_port, skip_or_fail


class RedisServer:
    def __init__(self, folder: Path) -> None:
        self.program = shutil.which("redis-server")  # Debian's: /usr/bin/redis-server
        if not self.program:
            skip_or_fail("redis-server is not installed (Debian: apt-get install redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        command = [self.program, "--bind", "127.0.0.1", "--port", str(self.port)]
        command += ["--dir", str(self.folder), "--appendonly", "yes", "--save", ""]
        with (self.folder / "redis.log").open("a") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        eventually(self.answers, f"redis-server on port {self.port}", timeout=10, every=0.05)

    def answers(self) -> bool:
        try:
            return self.client().ping()
        except redis.RedisError:
            return False

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def queued(self, queue: str = "celery") -> int:
        """How many jobs wait in `queue`, not yet delivered to a worker."""
        return self.client().llen(queue)

    def kill(self) -> None:
        """Gone at once, as in a crash: no shutdown, no last write to disk."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def freeze(self) -> None:
        """Still accepts connections, never answers (SIGSTOP)."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def _end(self, sig: signal.Signals) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.send_signal(sig)
            self.process.wait(timeout=30)


class CeleryProcess:
    """`celery -A toastsite <args>` in a session of its own (so that a test can
    kill it with its pool), up once its log says `ready_line`."""

    def __init__(self, args: list[str], env: dict, log_path: Path, ready_line: str) -> None:
        self.log_path = log_path
        with log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "toastsite", *args],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        eventually(lambda: self._started(ready_line), f"{args[0]} to start", timeout=60)

    def _started(self, line: str) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"celery exited:\n{self.log()[-3000:]}")
        return line in self.log()

    def log(self) -> str:
        return self.log_path.read_text()

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def kill(self) -> None:
        """SIGKILL to the whole process group: the worker and its pool, as in a crash."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """A warm shutdown (SIGTERM): jobs under way finish, spans are flushed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


class Worker(CeleryProcess):
    def __init__(
        self, env: dict, log_path: Path, name: str, pool: str = "prefork", concurrency: int = 1
    ) -> None:
        self.name = f"{name}@{socket.gethostname()}"
        args = ["worker", "--pool", pool, "--concurrency", str(concurrency), "-n", self.name]
        # Gossip, mingle and heartbeats are chatter between workers that no test needs.
        args += ["--loglevel", "INFO", "--without-gossip", "--without-mingle"]
        super().__init__(args + ["--without-heartbeat"], env, log_path, f"{self.name} ready.")


class Beat(CeleryProcess):
    def __init__(self, env: dict, log_path: Path) -> None:
        schedule = log_path.with_suffix(".schedule")
        args = ["beat", "--loglevel", "INFO", "--schedule", str(schedule)]
        super().__init__(args, env, log_path, "beat: Starting")
