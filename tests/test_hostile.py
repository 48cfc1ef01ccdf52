"""Fault injection over every command: hostile input is handled or refused in one line naming the file and the
reason; never a traceback, never a half-written file. Run with `pytest -s` to see the tally per command."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from earmark.cli import main
from tests.hostile import EITHER, KEEP, REFUSE, Hostile, label_tables, write_good_clips, write_hostile_audio

TINY_TRAIN = ["--set", "trainer.epochs=2", "--set", "data.window_s=0.5", "--set", "data.eval_hop_s=0.25",
              "--set", "trainer.device=cpu", "--set", "optim.lr=0.01", "--batch-size", "8", "--seed", "0"]
TALLY: dict[str, Counter[str]] = defaultdict(Counter)  # command → handled / refused / crashed
KINDS: set[str] = set()
# prepare refuses more than 4 h; predict streams any length by contract (test_predict covers long files), and
# scoring 4 h of audio here would take a minute, so predict skips this one kind.
TOO_LONG = "over_four_hours.wav"
RANDOM = np.random.default_rng(8)


@dataclass
class Outcome:
    """What one CLI call did."""

    rc: int
    out: str
    err: str
    crash: str = ""  # the traceback of an exception that escaped main()

    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def cli(*argv: object) -> Outcome:
    """`earmark ARGV` in this process, stdout and stderr captured; an escaping exception is a crash."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse
            rc = int(exc.code or 0)
        except BaseException:
            return Outcome(-1, out.getvalue(), err.getvalue(), traceback.format_exc())
    return Outcome(rc, out.getvalue(), err.getvalue())


def record(command: str, outcome: str, kind: str | None = None) -> None:
    TALLY[command][outcome] += 1
    if kind:
        KINDS.add(kind)


def expect_refusal(command: str, result: Outcome, *names: str, kind: str | None = None) -> None:
    """Exit 1 and one stderr line naming the file(s) and a reason; tallied before asserting."""
    record(command, "crashed" if result.crash or "Traceback" in result.err else
           "refused" if result.rc == 1 else "handled", kind)
    assert not result.crash, result.crash
    assert result.rc == 1, (result.rc, result.out[-500:], result.err)
    assert "Traceback" not in result.err and len(result.err_lines()) == 1, result.err
    for name in names:
        assert name.lower() in result.err.lower(), (name, result.err)


def expect_handled(command: str, result: Outcome, kind: str | None = None) -> None:
    record(command, "crashed" if result.crash or "Traceback" in result.err else
           "handled" if result.rc == 0 else "refused", kind)
    assert not result.crash, result.crash
    assert result.rc == 0, result.err
    assert "Traceback" not in result.err


def leftovers(folder: Path) -> list[Path]:
    """Temporary files of an atomic write that was never finished."""
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")] if folder.exists() else []


# --------------------------------------------------------------------------- the corpus and what is built on it


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Hostile]]:
    """Two classes of clean tones plus every hostile audio kind in class `a`."""
    root = tmp_path_factory.mktemp("hostile") / "source"
    write_good_clips(root, {"a": 400.0, "b": 1500.0}, per_label=6)
    return root, write_hostile_audio(root / "a")


@pytest.fixture(scope="module")
def prepared(corpus: tuple[Path, list[Hostile]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hostile-prepared") / "data"
    result = cli("prepare", corpus[0], out, "--split", "50/25/25", "--workers", "1")
    assert result.rc == 0 and not result.crash, result.crash or result.err
    return out


@pytest.fixture(scope="module")
def run(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hostile-run") / "run"
    result = cli("train", prepared, "--out", out, *TINY_TRAIN)
    expect_handled("train", result, "dataset prepared from the hostile corpus")
    return out


def _rejected(folder: Path) -> dict[str, str]:
    with (folder / "rejected.csv").open(encoding="utf-8") as handle:
        return {row["source"]: row["reason"] for row in csv.DictReader(handle)}


def _printable(name: str) -> str:
    return os.fsencode(name).decode("utf-8", "backslashreplace")


@pytest.mark.parametrize("command", ["prepare", "doctor"])
def test_every_hostile_file_is_kept_or_rejected_with_its_reason(command: str, corpus: tuple[Path, list[Hostile]],
                                                                prepared: Path, tmp_path: Path) -> None:
    source, hostile = corpus
    if command == "prepare":
        out, result = prepared, None
    else:
        out = tmp_path / "doctor"
        result = cli("doctor", source, "--out", out, "--workers", "1")
        expect_handled("doctor", result)
    rejected = _rejected(out)
    kept = set()
    if command == "prepare":
        with (out / "manifest.csv").open(encoding="utf-8") as handle:
            kept = {row["path"] for row in csv.DictReader(handle)}
    for item in hostile:
        path = _printable(f"a/{item.name}")
        refused = path in rejected
        record(command, "refused" if refused else "handled", item.kind)
        if item.outcome == REFUSE:
            assert refused, (item, sorted(rejected))
            assert item.reason in rejected[path].lower(), (item, rejected[path])
        elif item.outcome == KEEP:
            assert not refused, (item, rejected.get(path))
        if command == "prepare" and not refused:
            assert path in kept, item
    assert not leftovers(out)
    if result is not None:  # the summary is two lines on stdout and one line of reasons on stderr
        assert len(result.err_lines()) == 1 and result.err.startswith("rejected by reason"), result.err


@pytest.mark.parametrize("table", label_tables(["a1.wav", "b1.wav", "a2.wav", "b2.wav"], "extra.wav"),
                         ids=lambda t: t.kind)
def test_hostile_label_tables(table, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "source"
    write_good_clips(source, {"x": 500.0}, per_label=5)
    for i, name in enumerate(["a1.wav", "b1.wav", "a2.wav", "b2.wav", "extra.wav"]):
        shutil.move(source / "x" / f"good_{i}.wav", source / name)
    shutil.copy(source / "extra.wav", tmp_path / "outside.wav")
    (source / "labels.csv").write_bytes(table.data)
    out = tmp_path / "out"
    result = cli("prepare", source, out, "--labels", "csv:labels.csv", "--split", "50/0/50", "--workers", "1")
    if table.refused_whole:
        expect_refusal("prepare", result, "labels.csv", table.reason, kind=table.kind)
        assert not (out / "manifest.csv").exists() and not leftovers(tmp_path)
    else:
        expect_handled("prepare", result, table.kind)
        reasons = " | ".join(_rejected(out).values())
        assert table.reason in reasons, reasons
        assert not leftovers(out)


def test_predict_each_hostile_file(corpus: tuple[Path, list[Hostile]], run: Path) -> None:
    source, hostile = corpus
    for item in hostile:
        path = source / "a" / item.name
        if item.name == TOO_LONG:
            continue
        result = cli("predict", run, "--format", "json", "--hop", "0.5", "--", path)  # hop: the 90-s file, faster
        if item.outcome == KEEP or (item.outcome == EITHER and result.rc == 0):
            expect_handled("predict", result, item.kind)
            (prediction,) = json.loads(result.out)
            assert prediction["label"] in ("a", "b") and prediction["file"] == str(path)
        else:
            expect_refusal("predict", result, _printable(str(path)) if item.name.isprintable() else "caf",
                           item.reason, kind=item.kind)


def test_predict_a_hostile_folder_names_each_bad_file(corpus: tuple[Path, list[Hostile]], run: Path) -> None:
    source, hostile = corpus
    result = cli("predict", run, source / "b", "--format", "csv")  # clean folder first: a baseline
    expect_handled("predict", result)
    aside = source / TOO_LONG
    (source / "a" / TOO_LONG).rename(aside)
    try:
        result = cli("predict", run, "--format", "json", "--hop", "0.5", source / "a")
    finally:
        aside.rename(source / "a" / TOO_LONG)
    expect_handled("predict", result, "folder of hostile files")
    failed = result.err_lines()
    refused = [h for h in hostile if h.outcome == REFUSE and h.name != TOO_LONG]
    assert len(failed) == len(refused), result.err
    assert all(line.startswith("earmark predict: ") and ": " in line[17:] for line in failed)
    assert {Path(r["file"]).name for r in json.loads(result.out)} >= {h.name.split("/")[-1] for h in hostile
                                                                       if h.outcome == KEEP}


def _damaged_datasets(prepared: Path, root: Path) -> dict[str, Path]:
    """Copies of a prepared dataset with one thing broken each, plus paths that are not datasets at all."""
    cases: dict[str, Path] = {"missing folder": root / "nope", "a file, not a folder": prepared / "labels.json"}
    breakers = {
        "manifest cut mid-row": lambda d: (d / "manifest.csv").write_bytes((d / "manifest.csv").read_bytes()[:700]),
        "manifest of garbage": lambda d: (d / "manifest.csv").write_bytes(RANDOM.bytes(300)),
        "manifest empty": lambda d: (d / "manifest.csv").write_text(""),
        "labels.json missing": lambda d: (d / "labels.json").unlink(),
        "labels.json not JSON": lambda d: (d / "labels.json").write_text("{'a'"),
        "report.json missing": lambda d: (d / "report.json").unlink(),
        "cache shard truncated": lambda d: (d / "cache" / "shard-00000.int16").write_bytes(b"\0" * 100),
    }
    for name, breaker in breakers.items():
        target = root / name.replace(" ", "_")
        shutil.copytree(prepared, target)
        breaker(target)
        cases[name] = target
    return cases


def test_train_refuses_damaged_datasets_and_configs(prepared: Path, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    for kind, data in _damaged_datasets(prepared, tmp_path / "data").items():
        out = tmp_path / f"run-{kind.replace(' ', '_')}"
        result = cli("train", data, "--out", out, *TINY_TRAIN)
        expect_refusal("train", result, str(data), kind=f"dataset: {kind}")
        assert not (out / "checkpoints").exists() and not leftovers(out)
    evil_yaml = tmp_path / "evil.yaml"
    evil_yaml.write_text(f"trainer: !!python/object/apply:os.system ['touch {marker}']\n")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    configs = {"unknown key": ["--set", "trainer.bogus=1"], "negative epochs": ["--set", "trainer.epochs=-1"],
               "text for a number": ["--set", "trainer.epochs=lots"], "YAML with a python tag": ["--config", evil_yaml],
               "config that is not text": ["--config", binary], "value that is not YAML": ["--set", "optim.lr=[0.1"],
               "config that is not a mapping": ["--set", "trainer=3"]}
    for kind, extra in configs.items():
        result = cli("train", prepared, "--out", tmp_path / "run-config", *TINY_TRAIN, *extra)
        expect_refusal("train", result, kind=f"config: {kind}")
    assert not marker.exists()


def _hostile_checkpoints(good: Path, folder: Path, marker: Path) -> dict[str, Path]:
    """Checkpoints that must never load: code on unpickling, truncated, empty, damaged fields."""
    import pickle

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, (f"touch {marker}",))

    folder.mkdir(parents=True, exist_ok=True)
    state = torch.load(good, weights_only=True)
    data = good.read_bytes()
    writers = {
        "pickle that runs code": lambda p: p.write_bytes(pickle.dumps({"format": Evil()}, protocol=2)),
        "torch.save of an object that runs code": lambda p: torch.save({**state, "labels": Evil()}, p),
        "truncated checkpoint": lambda p: p.write_bytes(data[: len(data) // 2]),
        "0-byte checkpoint": lambda p: p.write_bytes(b""),
        "random bytes": lambda p: p.write_bytes(RANDOM.bytes(2000)),
        "checkpoint without labels": lambda p: torch.save({k: v for k, v in state.items() if k != "labels"}, p),
        "checkpoint with wrong shapes": lambda p: torch.save(
            {**state, "model": {k: v.flatten()[:1] for k, v in state["model"].items()}}, p),
        "checkpoint with an unknown model": lambda p: torch.save(
            {**state, "config": {**state["config"], "model": {**state["config"]["model"], "name": "nope"}}}, p),
        "checkpoint with a text sample rate": lambda p: torch.save({**state, "sample_rate": "fast"}, p),
    }
    paths = {}
    for kind, write in writers.items():
        path = folder / f"{kind.replace(' ', '_')}.ckpt"
        write(path)
        paths[kind] = path
    return paths


def test_evaluate_predict_export_refuse_hostile_checkpoints(run: Path, prepared: Path, corpus: tuple[Path, list],
                                                            tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    clip = corpus[0] / "b" / "good_0.wav"
    exports = tmp_path / "exports"
    for kind, ckpt in _hostile_checkpoints(run / "checkpoints" / "best.ckpt", tmp_path / "ckpt", marker).items():
        expect_refusal("evaluate", cli("evaluate", ckpt, "--data", prepared), str(ckpt), kind=kind)
        expect_refusal("predict", cli("predict", ckpt, clip), str(ckpt), kind=kind)
        target = exports / f"{ckpt.stem}.onnx"
        expect_refusal("export", cli("export", ckpt, "--out", target), str(ckpt), kind=kind)
        assert not target.exists() and not leftovers(exports)
    assert not marker.exists()


def test_evaluate_on_the_run_and_on_hostile_datasets(run: Path, prepared: Path, tmp_path: Path) -> None:
    expect_handled("evaluate", cli("evaluate", run), "run trained on the hostile corpus")
    expect_handled("evaluate", cli("evaluate", run, "--data", prepared, "--split", "val"))
    for kind, data in _damaged_datasets(prepared, tmp_path / "data").items():
        expect_refusal("evaluate", cli("evaluate", run, "--data", data), str(data), kind=f"dataset: {kind}")
    expect_refusal("evaluate", cli("evaluate", tmp_path / "no-run"), "no-run", kind="missing run")
    assert not leftovers(run)


def test_export_writes_nothing_where_it_cannot(run: Path, tmp_path: Path) -> None:
    expect_refusal("export", cli("export", run, "--out", tmp_path / "model.bin"), "model.bin",
                   kind="export target without .onnx")
    expect_refusal("export", cli("export", run, "--out", run / "checkpoints" / "best.ckpt", "--format", "torchscript"),
                   "best.ckpt", kind="export over the checkpoint")
    expect_refusal("export", cli("export", tmp_path / "no-run"), "no-run", kind="missing run")
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    result = cli("export", run, "--format", "torchscript", "--out", blocked / "model.pt")
    expect_refusal("export", result, str(blocked), kind="export into a path under a file")
    assert blocked.read_text() == "not a folder"


def test_outputs_that_cannot_be_written_are_refused(corpus: tuple[Path, list[Hostile]], prepared: Path,
                                                   tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    expect_refusal("prepare", cli("prepare", corpus[0], blocked, "--workers", "1"), str(blocked),
                   kind="output folder that is a file")
    expect_refusal("doctor", cli("doctor", corpus[0], "--out", blocked, "--workers", "1"), str(blocked),
                   kind="output folder that is a file")
    expect_refusal("train", cli("train", prepared, "--out", blocked / "run", *TINY_TRAIN), str(blocked),
                   kind="output folder that is a file")
    expect_refusal("doctor", cli("doctor", tmp_path / "missing"), "missing", kind="missing source")
    expect_refusal("prepare", cli("prepare", blocked, tmp_path / "out"), str(blocked), kind="source that is a file")
    assert blocked.read_text() == "not a folder"


def test_export_of_the_hostile_run(run: Path, tmp_path: Path) -> None:
    result = cli("export", run, "--format", "torchscript", "--out", tmp_path / "model.pt")
    expect_handled("export", result, "run trained on the hostile corpus")
    assert (tmp_path / "model.pt").is_file() and not leftovers(tmp_path)


def test_real_processes_print_one_line_and_no_traceback(corpus: tuple[Path, list[Hostile]], run: Path,
                                                        tmp_path: Path) -> None:
    """A few in a child process: C libraries write straight to file descriptor 2, which redirect_stderr misses."""
    source = corpus[0] / "a"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    cases = [["predict", str(run), str(source / "text.mp3"), str(source / "truncated.mp3")],
             ["export", str(source / "random.wav")]]
    for argv in cases:
        proc = subprocess.run([sys.executable, "-m", "earmark", *argv], capture_output=True, text=True, timeout=120,
                              env=env)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert len(lines) == len(argv) - 2 if argv[0] == "predict" else len(lines) == 1, proc.stderr


def test_zz_tally(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The figures for the issue note (`pytest -s`): kinds tried, and handled / refused / crashed per command."""
    table = {command: {k: counts[k] for k in ("handled", "refused", "crashed")} for command, counts in TALLY.items()}
    summary = {"kinds": len(KINDS), "commands": table}
    (tmp_path_factory.getbasetemp() / "hostile-tally.json").write_text(json.dumps(summary, indent=2))
    print(f"\nhostile-input kinds tried: {len(KINDS)}")
    for command, counts in sorted(table.items()):
        print(f"  {command:<9} handled {counts['handled']:>3}  refused {counts['refused']:>3}  "
              f"crashed {counts['crashed']}")
    assert all(counts["crashed"] == 0 for counts in table.values())
