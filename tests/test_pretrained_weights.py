"""Weights downloads against a real HTTP server on 127.0.0.1: verified, atomic, resumable, refused in one line."""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from earmark.errors import EarmarkError
from earmark.models.pretrained import efficientat
from earmark.models.pretrained.base import WeightsFile
from earmark.models.pretrained.weights import cache_dir, fetch, pretrained, recorded_sha256, resolve_weights, sha256_of
from tests.loopback import Behaviour, Handler, serve

PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 B, not a multiple of the read size


@pytest.fixture
def server() -> Iterator[tuple[str, Behaviour]]:
    with serve(PAYLOAD, "/files/w.pth?download=1") as (url, behaviour):
        yield url, behaviour


@pytest.fixture(autouse=True)
def _online_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EARMARK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EARMARK_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def _weights(url: str, **checks: object) -> WeightsFile:
    return WeightsFile(url=url, filename="w.pth", **checks)  # type: ignore[arg-type]


SHA = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()


def test_a_download_is_verified_stored_and_its_sha256_recorded(server: tuple[str, Behaviour]) -> None:
    url, behaviour = server
    path = fetch(_weights(url, size=len(PAYLOAD), md5=MD5, sha256=SHA))
    assert path == cache_dir() / "weights" / "w.pth" and path.read_bytes() == PAYLOAD
    assert sha256_of(path) == recorded_sha256(path) == SHA
    assert sorted(p.name for p in path.parent.iterdir() if not p.name.startswith(".")) == ["w.pth", "w.pth.sha256"]
    assert fetch(_weights(url, md5=MD5)) == path and len(behaviour.ranges) == 1  # the cache answers, not the server


def test_without_a_published_checksum_the_computed_one_is_recorded(server: tuple[str, Behaviour]) -> None:
    path = fetch(_weights(server[0]))
    assert recorded_sha256(path) == SHA


@pytest.mark.parametrize("wrong", [{"md5": "0" * 32}, {"sha256": "f" * 64}, {"size": 5}])
def test_a_checksum_or_size_mismatch_keeps_nothing(server: tuple[str, Behaviour], wrong: dict[str, object]) -> None:
    with pytest.raises(EarmarkError, match="is not the published file") as info:
        fetch(_weights(server[0], **wrong))
    assert "\n" not in str(info.value) and server[0] in str(info.value)
    assert [p.name for p in (cache_dir() / "weights").iterdir() if not p.name.startswith(".")] == []


def test_a_cut_connection_is_resumed_with_a_range_request(server: tuple[str, Behaviour]) -> None:
    url, behaviour = server
    behaviour.cut_answers, behaviour.cut_after = 2, 300_000
    path = fetch(_weights(url, sha256=SHA))
    assert path.read_bytes() == PAYLOAD
    assert behaviour.ranges == [None, "bytes=300000-", "bytes=600000-"]


def test_a_part_left_by_an_earlier_run_is_continued(server: tuple[str, Behaviour]) -> None:
    url, behaviour = server
    behaviour.cut_answers, behaviour.cut_after = 99, 100_000  # every answer is cut: this run gives up, keeps its part
    with pytest.raises(EarmarkError, match="download cut") as info:
        fetch(_weights(url, sha256=SHA))
    assert "\n" not in str(info.value) and "resumes" in str(info.value)
    part = cache_dir() / "weights" / "w.pth.part"
    assert part.stat().st_size == 4 * 100_000 and not (cache_dir() / "weights" / "w.pth").exists()
    behaviour.cut_answers, behaviour.ranges = 0, []
    assert fetch(_weights(url, sha256=SHA)).read_bytes() == PAYLOAD
    assert behaviour.ranges == ["bytes=400000-"] and not part.exists()


def test_a_server_that_ignores_range_gives_the_whole_file_again(server: tuple[str, Behaviour]) -> None:
    url, behaviour = server
    behaviour.honour_range, behaviour.cut_answers = False, 1
    path = fetch(_weights(url, sha256=SHA))
    assert path.read_bytes() == PAYLOAD and behaviour.ranges == [None, "bytes=300000-"]


def test_a_part_longer_than_the_file_starts_again(server: tuple[str, Behaviour]) -> None:
    url, behaviour = server
    folder = cache_dir() / "weights"
    folder.mkdir(parents=True)
    (folder / "w.pth.part").write_bytes(b"x" * (len(PAYLOAD) + 10))
    assert fetch(_weights(url, sha256=SHA)).read_bytes() == PAYLOAD
    assert behaviour.ranges == [f"bytes={len(PAYLOAD) + 10}-", None]


@pytest.mark.parametrize("variable", ["EARMARK_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_refuses_at_once_naming_the_url_and_the_way_out(
        server: tuple[str, Behaviour], variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url, behaviour = server
    monkeypatch.setenv(variable, "1")
    with pytest.raises(EarmarkError) as info:
        fetch(_weights(url))
    text = str(info.value)
    assert url in text and variable in text and "--set model.weights=PATH" in text and "\n" not in text
    assert behaviour.ranges == []


def test_no_server_is_one_line_and_quick(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(EarmarkError, match="cannot download") as info:
        fetch(_weights(f"http://127.0.0.1:{port}/w.pth"), timeout_s=2.0)
    assert "\n" not in str(info.value) and "--set model.weights=PATH" in str(info.value)


def test_an_http_error_is_one_line(server: tuple[str, Behaviour], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Handler, "do_GET", lambda self: self.send_error(404))
    with pytest.raises(EarmarkError, match="HTTP 404") as info:
        fetch(_weights(server[0]))
    assert "\n" not in str(info.value)


def test_resolve_weights_prefers_a_local_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = efficientat.SPECS[0]
    local = tmp_path / "mine.pt"
    local.write_bytes(b"weights")
    assert resolve_weights(spec, str(local)) == local
    with pytest.raises(EarmarkError, match="weights file not found"):
        resolve_weights(spec, tmp_path / "absent.pt")
    monkeypatch.setenv("EARMARK_OFFLINE", "1")  # without a path the official URL would be fetched: offline, refused
    with pytest.raises(EarmarkError, match=re.escape(spec.weights.url)):  # type: ignore[union-attr]
        resolve_weights(spec, None)


def test_the_cache_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("EARMARK_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "earmark"


def test_a_damaged_cached_file_is_replaced_by_a_fresh_download(server: tuple[str, Behaviour]) -> None:
    url, behaviour = server
    path = fetch(_weights(url, sha256=SHA))
    path.write_bytes(b"bit rot")
    (path.parent / "w.pth.sha256").unlink()
    assert fetch(_weights(url, sha256=SHA)).read_bytes() == PAYLOAD and len(behaviour.ranges) == 2
    assert recorded_sha256(path) == SHA


def test_pretrained_builds_and_loads_strictly_from_the_cache(server: tuple[str, Behaviour], tmp_path: Path) -> None:
    spec = efficientat.SPECS[0]
    state = {k: v + 1 if v.is_floating_point() else v for k, v in spec.build().state_dict().items()}
    torch.save(state, tmp_path / "served.pt")
    url, behaviour = server
    served = behaviour.payload = (tmp_path / "served.pt").read_bytes()
    spec = replace(spec, weights=WeightsFile(url=url, filename="mn04.pt", sha256=hashlib.sha256(served).hexdigest()))
    model = pretrained(spec)
    assert not model.training and torch.equal(model.state_dict()["classifier.5.bias"], state["classifier.5.bias"])
    assert torch.equal(pretrained(spec, tmp_path / "served.pt").state_dict()["features.0.1.running_var"],
                       state["features.0.1.running_var"])
