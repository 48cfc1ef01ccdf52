"""Run earmark commands and SIGKILL them at chosen moments: a zygote process for the kill/resume tests.

The moments are the calls to `os.replace`, i.e. each time an atomic write is about to put a finished file in
place: the process dies with the temporary file written and the target not yet replaced, the worst moment
for anything that reads the folder afterwards. Killing before the N-th replace, for N drawn from every
replace the uninterrupted command makes, visits every state the command can leave behind.

The zygote imports earmark and its heavy dependencies once, then forks one child per command, so a loop of
kills and resumes does not pay Python's start-up each time. It has done no tensor work itself (no thread
pools exist), so forking it is safe. Protocol, one JSON line each way:
    {"argv": [...], "kill_at": N, "kill_after_s": T, "log": "path"}  →  {"rc": status or -9, "replaces": count}
`kill_at` 0 runs to the end; `kill_after_s` > 0 has the zygote SIGKILL the child after T seconds instead, at
whatever it is doing (mid-epoch, mid-export); the child's stdout and stderr go to `log`.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _child(argv: list[str], kill_at: int, log: str, count_fd: int) -> None:
    """In the forked child: count replaces (killing at `kill_at`), run the command, report the count."""
    descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    real_replace = os.replace
    calls = 0

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        os.write(count_fd, b".")  # the parent counts bytes: the count survives a SIGKILL
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst, *args, **kwargs)

    os.replace = replace
    from earmark.cli import main

    code = 1
    try:
        code = main(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    """The zygote's loop: one request per stdin line, one answer per stdout line."""
    import lightning.fabric  # noqa: F401  (imported once here, inherited by every child)
    import matplotlib.figure  # noqa: F401
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401
    import torch  # noqa: F401

    import earmark.commands
    import earmark.data.prepare
    import earmark.export.exporter
    import earmark.training.cv
    import earmark.training.loop  # noqa: F401

    for line in sys.stdin:
        request = json.loads(line)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _child(request["argv"], int(request["kill_at"]), request["log"], write_end)
        os.close(write_end)
        count = _drain(read_end, pid, float(request.get("kill_after_s", 0.0)))
        _, status = os.waitpid(pid, 0)
        rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(json.dumps({"rc": rc, "replaces": count}), flush=True)


def _drain(read_end: int, pid: int, kill_after_s: float) -> int:
    """Count the child's replace marks until it exits, killing it after `kill_after_s` (when > 0)."""
    deadline = time.monotonic() + kill_after_s if kill_after_s > 0 else None
    count = 0
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([read_end], [], [], timeout)
        if not ready:  # the deadline passed with the child still running
            os.kill(pid, signal.SIGKILL)
            deadline = None
            continue
        chunk = os.read(read_end, 4096)
        if not chunk:
            os.close(read_end)
            return count
        count += len(chunk)


class Zygote:
    """The test side: start the zygote once, then `run` commands in forked children."""

    def __init__(self, cwd: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.killpoint"], cwd=cwd, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def run(self, argv: list[str], log: Path, kill_at: int = 0, kill_after_s: float = 0.0) -> tuple[int, int]:
        """(exit status, -9 when killed; number of os.replace calls made) of `earmark ARGV`."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        request = {"argv": argv, "kill_at": kill_at, "kill_after_s": kill_after_s, "log": str(log)}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError(f"the zygote died ({self.proc.poll()})")
        result = json.loads(answer)
        return int(result["rc"]), int(result["replaces"])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


if __name__ == "__main__":
    serve()
