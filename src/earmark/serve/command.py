"""The `earmark serve` command: open the models, print the URL, run uvicorn until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from earmark.errors import EarmarkError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `earmark serve`."""
    parser.add_argument("models", type=Path, nargs="+", metavar="RUN_OR_MODEL",
                        help="run folders, checkpoints or exported .onnx files (the page lets you pick one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free port)")
    parser.add_argument("--max-upload-mb", type=float, default=200.0, help="largest upload accepted (default 200)")
    parser.add_argument("--max-duration", type=float, default=3600.0, metavar="S",
                        help="longest audio accepted, in seconds (default 3600)")
    parser.add_argument("--threads", type=int, default=None, help="torch/onnxruntime threads per model")


def serve(args: argparse.Namespace) -> int:
    """Handler of `earmark serve`."""
    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        raise EarmarkError("earmark serve needs the serve extra: pip install 'earmark[serve]'")
    import uvicorn

    from earmark.serve.app import create_app
    from earmark.serve.models import Limits, load_models

    if args.max_upload_mb <= 0 or args.max_duration <= 0:
        raise EarmarkError("--max-upload-mb and --max-duration must be positive")
    models = load_models(args.models, args.threads)
    limits = Limits(round(args.max_upload_mb * 2**20), args.max_duration)
    hosts = [*LOCAL_HOSTS, args.host] if args.host not in ("0.0.0.0", "::") else ["*"]
    if args.host not in LOCAL_HOSTS:
        print(f"earmark serve: warning: listening on {args.host}, not only this machine: anyone who can reach "
              "it can upload files, hear the run's clips and write its corrections.csv", file=sys.stderr)
    sock = bind(args.host, args.port)
    config = uvicorn.Config(create_app(models, limits, allowed_hosts=hosts), log_level="warning", access_log=False)
    for model in models:
        print(f"model {model.id}: {model.name} ({model.kind}, {len(model.predictor.labels)} labels)"
              f"{'; its run can be looked inside' if model.run else ''}")
    print(f"earmark serve: open {url(sock)}  (Ctrl-C to stop)", flush=True)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on `host`:`port` (0: a free port), or one line saying why not."""
    try:
        family = socket.AF_INET6 if _is_ipv6(host) else socket.AF_INET
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise EarmarkError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None


def url(sock: socket.socket) -> str:
    """The page's address on a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if _is_ipv6(host) else f"http://{host}:{port}/"


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


@contextlib.contextmanager
def serving(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run `app` on uvicorn in a background thread for the duration of the `with`; yields the page's URL (for
    tests and benchmarks: a real server on this machine, stopped and joined on the way out)."""
    import uvicorn

    sock = bind(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        yield url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
