"""`earmark serve` over plain HTTP against a real uvicorn server on 127.0.0.1: the answers equal `earmark predict`,
hostile requests are refused with one line and change nothing, concurrent marks are all kept, and the
corrections round trip through `earmark prepare --corrections` is real."""

from __future__ import annotations

import csv
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from earmark.cli import main
from tests.conftest import write_tone

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

MAX_UPLOAD = 400_000  # bytes: a 1-s 16 kHz WAV passes, a 20-s one does not
MAX_DURATION_S = 6.0


def copy_run(run: Path, out: Path) -> Path:
    """A private copy of the shared `tone_run` (the server writes corrections.csv into its run folder)."""
    shutil.copytree(run, out, ignore=shutil.ignore_patterns("tensorboard"))
    return out


@pytest.fixture(scope="module")
def served(tone_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A server on a free 127.0.0.1 port over a copy of tone_run, with small limits and its own temp root."""
    from earmark.serve.app import create_app
    from earmark.serve.command import serving
    from earmark.serve.models import Limits, load_models

    root = tmp_path_factory.mktemp("served")
    run = copy_run(tone_run, root / "run")
    temp = root / "uploads"
    temp.mkdir()
    models = load_models([run, run / "checkpoints" / "best.ckpt"])  # several models: the page offers each
    app = create_app(models, Limits(MAX_UPLOAD, MAX_DURATION_S), temp_root=temp)
    with serving(app) as url:
        yield {"url": url, "run": run, "temp": temp, "root": root}


def request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """(status, JSON or bytes) of one request; HTTP errors are answers too."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            status, body, kind = response.status, response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        status, body, kind = exc.code, exc.read(), exc.headers.get_content_type()
    return status, json.loads(body) if kind == "application/json" else body


def upload(url: str, path: Path, name: str | None = None) -> tuple[int, Any]:
    return request(f"{url}api/models/0/predict?name={name or path.name}", path.read_bytes())


def cli_predict(model: Path, path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["predict", str(model), str(path), "--format", "json"]) == 0
    return dict(json.loads(capsys.readouterr().out)[0])


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file()}


def test_answer_equals_earmark_predict(served: dict[str, Any], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    clip = tmp_path / "tone.wav"
    write_tone(clip, 2400.0, 1.3, 22050, np.random.default_rng(1))
    status, answer = upload(served["url"], clip)
    assert status == 200, answer
    expected = cli_predict(served["run"], clip, capsys)
    assert answer["label"] == expected["label"] and answer["top_k"] == expected["top_k"]
    assert answer["windows"] == expected["windows"]  # the same Predictor, the same numbers
    assert answer["duration_s"] == pytest.approx(1.3, abs=0.01)
    assert answer["spectrogram"].startswith("data:image/png;base64,")
    status, listing = request(served["url"] + "api/models")
    assert [(m["name"], m["kind"], m["has_run"]) for m in listing["models"]] == [("run", "run", True),
                                                                                  ("best.ckpt", "checkpoint", False)]
    status, same = request(f"{served['url']}api/models/1/predict?name=tone.wav", clip.read_bytes())
    assert status == 200 and same["top_k"] == expected["top_k"]  # the run's best checkpoint is the same model
    assert request(served["url"] + "api/models/1/run")[0] == 404  # a bare checkpoint has no run to look inside


def test_hostile_requests_are_refused_and_change_nothing(served: dict[str, Any], tone_run: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    url, run = served["url"], served["run"]
    data = Path(json.loads((run / "run.json").read_text())["data"])
    before_run, before_data = snapshot(run), snapshot(data)
    rng = np.random.default_rng(2)
    big, long, clip = tmp_path / "big.wav", tmp_path / "long.flac", tmp_path / "clip.wav"
    write_tone(big, 900.0, 20.0, 16000, rng)  # 640 kB > MAX_UPLOAD
    write_tone(long, 900.0, 12.0, 16000, rng, subtype="PCM_16")  # small as FLAC, but past MAX_DURATION_S
    write_tone(clip, 300.0, 1.0, 16000, rng)
    status, answer = upload(url, big)
    assert status == 413 and answer["error"].startswith("big.wav: larger than the 0.38")
    connection = http.client.HTTPConnection(urllib.parse.urlsplit(url).netloc, timeout=60)
    connection.request("POST", "/api/models/0/predict?name=big.wav", body=iter([big.read_bytes()[:100_000]] * 8),
                       encode_chunked=True)  # no Content-Length: refused while it streams in
    response = connection.getresponse()
    assert response.status == 413 and b"larger than the" in response.read()
    connection.close()
    status, answer = upload(url, long)
    assert status == 413 and answer["error"] == ("long.flac: longer than the 6 s of audio this server accepts "
                                                 "(earmark serve --max-duration S); use `earmark predict` for it")
    text = tmp_path / "notes.txt"
    text.write_text("not audio at all\n")
    status, answer = upload(url, text)
    capsys.readouterr()
    assert main(["predict", str(run), str(text)]) == 1
    cli_line = capsys.readouterr().err.strip()
    assert status == 400 and cli_line == f"earmark predict: {text}: {answer['error'].split(': ', 1)[1]}"
    assert answer["error"].startswith("notes.txt: ")
    status, answer = upload(url, clip, name="../../../../tmp/evil.wav")  # a name is only ever displayed
    assert status == 200 and answer["file"] == "evil.wav"
    for path in ("api/models/0/clips/..%2F..%2F..%2Fetc%2Fpasswd/audio.wav", "api/models/0/clips/-1/audio.wav",
                 "api/models/0/clips/100000/spectrogram.png", "static/..%2Fapp.py", "static/page.html",
                 "api/models/7/run"):
        status, _ = request(url + path)
        assert status in (404, 422), path
    status, answer = request(f"{url}api/models/0/clips/0/mark", b"action=exclude",
                             {"Content-Type": "application/x-www-form-urlencoded"})  # a cross-site form post
    assert status == 400 and "JSON" in answer["error"]
    status, answer = request(f"{url}api/models/0/clips/0/mark", b"{not json", {"Content-Type": "application/json"})
    assert status == 400 and "expected a JSON object" in answer["error"]
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: upload(url, clip), range(20)))
    assert all(status == 200 for status, _ in answers)
    assert len({json.dumps(a["top_k"]) for _, a in answers}) == 1  # the same answer for every one of them
    assert request(url + "api/models")[0] == 200  # still serving
    assert list(served["temp"].iterdir()) == []  # every upload's private folder was removed
    assert snapshot(data) == before_data
    assert set(snapshot(run)) - set(before_run) <= {"corrections.csv"}
    assert {k: v for k, v in snapshot(run).items() if k != "corrections.csv"} == before_run


def test_concurrent_marks_are_all_kept(served: dict[str, Any]) -> None:
    url, run = served["url"], served["run"]
    status, summary = request(url + "api/models/0/run")
    assert status == 200
    rows = sorted({clip["row"] for clip in summary["clips"]})[:20]
    labels = summary["labels"]

    def mark(row: int) -> int:
        action = {"action": "relabel", "label": labels[row % len(labels)]} if row % 2 else {"action": "exclude"}
        return request(f"{url}api/models/0/clips/{row}/mark", json.dumps(action).encode(),
                       {"Content-Type": "application/json"})[0]

    with ThreadPoolExecutor(20) as pool:
        assert set(pool.map(mark, rows)) == {200}
    with (run / "corrections.csv").open(newline="", encoding="utf-8") as handle:
        marked = {row["note"]: row for row in csv.DictReader(handle)}
    assert set(marked) == {f"manifest row {row}" for row in rows}
    assert request(f"{url}api/models/0/clips/{rows[0]}/mark", b'{"action": "relabel", "label": "../x"}',
                   {"Content-Type": "application/json"})[0] == 400  # not one of the run's labels
    for row in rows:
        assert request(f"{url}api/models/0/clips/{row}/mark", b'{"action": "clear"}',
                       {"Content-Type": "application/json"})[0] == 200
    assert (run / "corrections.csv").read_text().strip() == "path,action,label,previous_label,note"


def test_corrections_round_trip_through_prepare(tone_run: Path, tone_corpus: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from earmark.data.manifest import read_manifest
    from earmark.serve.runview import RunView

    view = RunView(copy_run(tone_run, tmp_path / "run"))
    rows = view.data().rows
    first, second = 0, next(i for i, row in enumerate(rows) if row.label != rows[0].label)
    new_label = next(label for label in view.metrics["labels"] if label != rows[first].label)
    view.mark(first, "relabel", new_label)
    view.mark(second, "exclude")
    options = ["--group", r"regex:(?P<group>spk\d+)_", "--split", "50/25/25", "--workers", "1"]
    out = tmp_path / "again"
    assert main(["prepare", str(tone_corpus), str(out), *options,
                 "--corrections", str(view.corrections_path)]) == 0
    manifest = {row.path: row for row in read_manifest(out / "manifest.csv")}
    assert manifest[rows[first].path].label == new_label
    assert rows[second].path not in manifest and len(manifest) == len(rows) - 1
    rejected = (out / "rejected.csv").read_text()
    assert f"{rows[second].path},excluded by corrections.csv" in rejected
    bad = tmp_path / "bad.csv"
    bad.write_text("path,action,label\nlow/nowhere.wav,exclude,\n")
    capsys.readouterr()
    assert main(["prepare", str(tone_corpus), str(tmp_path / "no"), *options, "--corrections", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "1 clip(s) not in this source (first: low/nowhere.wav)" in err
    bad.write_text("path,action,label\nlow/spk0_0.wav,rename,x\n")
    assert main(["prepare", str(tone_corpus), str(tmp_path / "no"), *options, "--corrections", str(bad)]) == 1
    assert "line 2: action 'rename': expected relabel or exclude" in capsys.readouterr().err


def test_serve_command_prints_the_url_and_warns_off_localhost(tone_run: Path) -> None:
    try:  # 127.0.0.2 is this machine too, but not the default: the command warns about it
        socket.create_server(("127.0.0.2", 0)).close()
    except OSError:
        pytest.skip("this machine's loopback does not take 127.0.0.2")
    env = {**os.environ, "EARMARK_THREADS": "1"}
    command = [sys.executable, "-m", "earmark", "serve", str(tone_run), "--host", "127.0.0.2", "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as child:
        try:
            assert child.stdout is not None and child.stderr is not None
            lines = [child.stdout.readline() for _ in range(2)]
            assert lines[0].startswith("model 0: ") and "its run can be looked inside" in lines[0]
            url = lines[1].split("open ", 1)[1].split()[0]
            assert url.startswith("http://127.0.0.2:")
            status, models = request(url + "api/models")
            assert status == 200 and models["models"][0]["labels"] == ["high", "low", "mid"]
            page = request(url)[1]
            assert b"<title>earmark serve</title>" in page
        finally:
            child.terminate()
            child.wait(timeout=30)
        assert "warning: listening on 127.0.0.2, not only this machine" in child.stderr.read()


def test_spectrogram_of_a_long_file_is_bounded_and_in_the_right_band() -> None:
    from earmark.serve.spectrogram import BANDS, MAX_COLUMNS, N_FFT, SpectrogramSketch, _band_edges

    rate, seconds = 16000, 60.0
    sketch = SpectrogramSketch(rate)
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    for block in np.array_split(wave, 80):  # streamed as the server does
        sketch.push(block)
    assert sketch.count <= MAX_COLUMNS and sketch.pool > 1
    assert sketch.count * sketch.seconds_per_column == pytest.approx(seconds, rel=0.01)
    power = np.concatenate(sketch.chunks)  # [T, BANDS]
    band = int(np.searchsorted(_band_edges(rate), round(1000.0 / rate * N_FFT), side="right")) - 1
    assert (power.argmax(axis=1) == band).all() and power.shape[1] == BANDS
    assert sketch.png().startswith(b"\x89PNG")


def test_a_run_whose_data_is_gone_still_shows_its_metrics(tone_run: Path, tmp_path: Path) -> None:
    from earmark.serve.runview import RunView, UnknownClip

    run = copy_run(tone_run, tmp_path / "run")
    record = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**record, "data": str(tmp_path / "gone")}))
    summary = RunView(run).summary()
    assert summary["splits"]["test"]["n"] > 0 and "the run's clips cannot be played" in summary["data_error"]
    assert all(clip["row"] is None for clip in summary["clips"])  # listed, not playable
    with pytest.raises(UnknownClip, match="cannot be played"):
        RunView(run).clip_wav(0)
    (run / "predictions.csv").write_text("clip,label\nx.wav,low\n")
    assert "not earmark's predictions.csv" in RunView(run).summary()["data_error"]


def test_mistakes_come_most_confident_first_with_their_manifest_rows(tone_run: Path, tmp_path: Path) -> None:
    from earmark.serve.runview import RunView

    run = copy_run(tone_run, tmp_path / "run")
    with (run / "predictions.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row, score in zip(rows[:2], ("0.7", "0.9")):  # two clips scored as another label, as a weaker model would
        row["predicted"] = next(label for label in ("low", "mid") if label != row["true"])
        row["score"] = score
    with (run / "predictions.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    view = RunView(run)
    mistakes = view.summary()["mistakes"]
    assert [m["clip"] for m in mistakes] == [rows[1]["clip"], rows[0]["clip"]]
    manifest = view.data().rows
    assert all(manifest[m["row"]].path == m["clip"] for m in mistakes)  # addressed by manifest row
