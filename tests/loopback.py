"""A real HTTP server on 127.0.0.1 for download tests: serves one payload, honours Range, can cut answers."""

from __future__ import annotations

import http.server
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Behaviour:
    """How the test server answers: cut the first N answers after `cut_after` bytes, honour Range or not."""

    payload: bytes = b""
    cut_answers: int = 0
    cut_after: int = 300_000
    honour_range: bool = True
    ranges: list[str | None] = field(default_factory=list)  # the Range header of every request seen


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        b = self.server.behaviour  # type: ignore[attr-defined]
        wanted = self.headers.get("Range")
        b.ranges.append(wanted)
        start = 0
        found = re.fullmatch(r"bytes=(\d+)-", wanted or "")
        if found and b.honour_range:
            start = int(found.group(1))
            if start >= len(b.payload):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(b.payload) - 1}/{len(b.payload)}")
        else:
            self.send_response(200)
        body = b.payload[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if b.cut_answers > 0:  # promise the whole body, send part of it, hang up
            b.cut_answers -= 1
            self.wfile.write(body[: b.cut_after])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # keep pytest's output clean
        pass


@contextmanager
def serve(payload: bytes, path: str = "/file") -> Iterator[tuple[str, Behaviour]]:
    """(URL, behaviour) of a server answering every path with `payload` until the block ends."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.behaviour = Behaviour(payload)  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}{path}", httpd.behaviour  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
