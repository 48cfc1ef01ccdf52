"""`--model hf:<hub id>` downloads for real, from a Hugging Face hub that the test serves on 127.0.0.1.

The server answers the four requests `snapshot_download` makes (model info, file tree, HEAD and GET of each
file) for one tiny random wav2vec2 saved by the test. `HF_ENDPOINT` points the real hub client at it; the
first run downloads into `HF_HOME`, a second run with the server gone and `HF_HUB_OFFLINE=1` trains from that
cache, and an unknown id is refused in one line. Nothing leaves the machine."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlparse

import pytest

pytest.importorskip("transformers")

from earmark.errors import ConfigError
from earmark.models.pretrained.hf import resolve
from tests.conftest import private_copy
from tests.test_hf import FAST, save_tiny

REPO = "earmark-test/tiny-wav2vec2"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub(BaseHTTPRequestHandler):
    """The hub's model API for the files of one folder, and a log of what was fetched."""

    folder: Path
    fetched: ClassVar[list[str]]

    def log_message(self, format: str, *args: object) -> None:  # quiet: pytest shows failures
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        path = urlparse(self.path).path
        files = sorted(p for p in self.folder.iterdir() if p.is_file())
        if path == f"/api/models/{REPO}/revision/main":
            payload = {"id": REPO, "sha": COMMIT, "siblings": [{"rfilename": p.name} for p in files]}
            return self._send(json.dumps(payload).encode(), {"Content-Type": "application/json"}, body)
        if path == f"/api/models/{REPO}/tree/{COMMIT}":
            tree = [{"type": "file", "path": p.name, "size": p.stat().st_size,
                     "oid": hashlib.sha1(p.read_bytes()).hexdigest()} for p in files]
            return self._send(json.dumps(tree).encode(), {"Content-Type": "application/json"}, body)
        prefix = f"/{REPO}/resolve/"
        name = path.removeprefix(prefix).split("/", 1)[-1] if path.startswith(prefix) else ""
        match = next((p for p in files if p.name == name), None)
        if match is None:
            return self._send(b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"}, body, 404)
        data = match.read_bytes()
        if body:
            self.fetched.append(name)
        self._send(data, {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}, body)

    def _send(self, data: bytes, headers: dict[str, str], body: bool, status: int = 200) -> None:
        self.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(data))}.items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(data)


@pytest.fixture()
def hub(tmp_path: Path) -> Iterator[tuple[str, list[str], ThreadingHTTPServer]]:
    class Hub(FakeHub):
        folder = save_tiny("wav2vec2", tmp_path / "upload")
        fetched: ClassVar[list[str]] = []

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", Hub.fetched, server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def hf_data(tone_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the tone dataset: probes write their embedding caches into it."""
    return private_copy(tone_prepared, tmp_path_factory.mktemp("hubdata") / "data")


def _train(data: Path, out: Path, model: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    args = ["train", str(data), "--out", str(out), "--model", model]
    for item in FAST:
        args += ["--set", item]
    keep = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    return subprocess.run([sys.executable, "-m", "earmark", *args], capture_output=True, text=True, timeout=300,
                          env={**keep, **env})


def test_hub_id_downloads_into_the_hf_cache_then_resolves_offline(
        hub: tuple[str, list[str], ThreadingHTTPServer], hf_data: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint, fetched, server = hub
    home = tmp_path / "hf-home"
    first = _train(hf_data, tmp_path / "online", f"hf:{REPO}", {"HF_ENDPOINT": endpoint, "HF_HOME": str(home)})
    assert first.returncode == 0, first.stderr
    assert "config.json" in fetched and "model.safetensors" in fetched, fetched
    snapshot = home / "hub" / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT
    assert (snapshot / "model.safetensors").is_file() and (snapshot / "config.json").is_file()
    online = json.loads((tmp_path / "online" / "metrics.json").read_text())
    assert online["model"] == f"hf:{REPO}"

    server.shutdown()  # the hub is gone: the cached snapshot is all there is
    fetched.clear()
    _use_hub(monkeypatch, endpoint, home, offline=True)
    assert resolve(REPO) == snapshot and fetched == []


def test_unknown_hub_id_is_refused_in_one_line(hub: tuple[str, list[str], ThreadingHTTPServer], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _use_hub(monkeypatch, hub[0], tmp_path / "hf-home", offline=False)
    with pytest.raises(ConfigError) as caught:
        resolve("earmark-test/no-such-model")
    message = str(caught.value)
    assert message.startswith("hf:earmark-test/no-such-model: cannot download from the hub") and "\n" not in message
    assert not (tmp_path / "hf-home" / "hub" / "models--earmark-test--no-such-model" / "snapshots").exists()


def _use_hub(monkeypatch: pytest.MonkeyPatch, endpoint: str, home: Path, offline: bool) -> None:
    """This process's hub client as HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE would set it at import."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
