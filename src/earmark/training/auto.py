"""`earmark train --auto`: train a few candidates, rank them on validation only, keep the winner as the run.

Each candidate trains in RUN/candidates/<name>/ (a finished one is reused, an interrupted one resumes), so a
killed `--auto` picks up where it stopped. Candidates train cheapest first (the closed-form logreg, then probes,
then the networks, the data-chosen one last). Each trained candidate gets an even share of the budget still
left (the closed-form fit takes seconds and is not counted), so what a cheap one does not use goes to the later
ones; a candidate whose schedule would not fit its share gets a shorter one (training/budget.py). Candidates are
ranked on validation accuracy (then validation macro-F1, then the order of the list), and one ranked above the
data-chosen model replaces it only when it is better on validation beyond noise (training/choice.py); test
scores are shown beside, never used to choose. RUN then holds an ordinary run of the winner (config,
checkpoints, reports) plus candidates.csv.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from earmark.checkpoint import load_checkpoint
from earmark.config import TrainConfig, apply_overrides, from_dict, to_dict
from earmark.data.dataset import PreparedData
from earmark.errors import EarmarkError
from earmark.fileio import write_csv_atomic
from earmark.training.choice import choose, decision_line, validation_hits
from earmark.training.closed_form import fit_logreg_run
from earmark.training.data_checks import check_splits
from earmark.training.folds import open_for_training
from earmark.training.items import fit_config_to_data
from earmark.training.loop import train
from earmark.training.outputs import RunFiles, finished_metrics, read_run_record, run_context, start_run
from earmark.training.recipe import LONG_MODEL, SHORT_MODEL, resolve_recipe
from earmark.training.reporting import write_model_report

Log = Callable[[str], None]
CANDIDATE_COLUMNS = ("rank", "candidate", "model", "val_accuracy", "val_macro_f1", "test_accuracy",
                     "test_macro_f1", "seconds_train", "epochs", "chosen")


@dataclass(frozen=True)
class Candidate:
    """One entry of `--auto`: its folder name, the model it trains and how it is fitted."""

    name: str
    model: str
    closed_form: bool = False  # fitted directly (the logreg baseline) instead of by the epoch loop
    probe: bool = False  # a frozen backbone with a head on cached embeddings: cheap after one embedding pass
    settings: tuple[tuple[str, Any], ...] = ()  # config keys this candidate sets on top of the user's config


def default_candidates(resolved: TrainConfig) -> list[Candidate]:
    """The data-chosen (or given) model, the 2-D CNN (the temporal CNN when the data chose the 2-D one), and the
    logreg baseline fitted in closed form.

    Other families append theirs here (a pretrained probe, say): one entry each, no other change needed.
    """
    if resolved.features.kind in ("image", "table"):  # images, tables: the CNN or MLP and the loop-trained logreg
        names = [resolved.model.name, *(["cnn", "mlp"] if resolved.features.kind == "image" else ["mlp", "logreg"])]
        return [Candidate(name, name) for name in dict.fromkeys(names)]
    other = SHORT_MODEL if resolved.model.name == LONG_MODEL else LONG_MODEL
    names = list(dict.fromkeys([resolved.model.name, other]))
    # The logreg is metrics.json's baseline made a model: statistics of the front-end, per-band standardised
    # (a standardised logistic regression is blind to that affine map, not to what instance norm removes).
    logreg = Candidate("logreg", "logreg", closed_form=True, settings=(("features.normalize", "dataset"),))
    return [*(Candidate(name, name) for name in names), logreg, *pretrained_candidates()]


def pretrained_candidates() -> list[Candidate]:
    """The GE2E probe (frozen, embeddings cached, a head trained in seconds) where its weights are installed.

    Last in the list, so that on a tie in validation scores the simpler candidates are kept.
    """
    from earmark.errors import ConfigError
    from earmark.models.pretrained.ge2e import wheel_weights

    try:
        wheel_weights()
    except ConfigError:  # the resemblyzer wheel is not installed: no probe candidate
        return []
    return [Candidate("ge2e-probe", "ge2e", probe=True)]


def run_auto(data_dir: Path, run_dir: Path, config: TrainConfig, time_budget_s: float | None = None,
             command: str = "", log: Log = print, holdout: tuple[str, str] | None = None,
             candidates: list[Candidate] | None = None) -> dict[str, Any]:
    """Train every candidate, choose on validation, leave `run_dir` as the winner's run; returns its metrics."""
    if finished_metrics(run_dir) is not None:
        raise EarmarkError(f"{run_dir}: already holds a finished run; choose another --out")
    if RunFiles(run_dir).last.exists() and not (run_dir / "candidates").is_dir():
        raise EarmarkError(f"{run_dir}: already holds a run that is not an --auto run; choose another --out")
    data = open_for_training(data_dir, holdout, config.trainer.seed)
    resolved, _ = resolve_recipe(fit_config_to_data(config, data), check_splits(data)["train"], len(data.labels))
    entries = candidates if candidates is not None else default_candidates(resolved)
    order = training_order(entries)
    log(f"auto: {len(entries)} candidates ({', '.join(c.name for c in entries)}), trained cheapest first"
        + (f"; {time_budget_s:g} s of training shared among them as they go" if time_budget_s is not None else ""))
    found: dict[str, dict[str, Any]] = {}
    left, spent = [c for c in order if not c.closed_form], 0.0
    for number, candidate in enumerate(order, start=1):
        folder = run_dir / "candidates" / candidate.name
        metrics = finished_metrics(folder)
        share = None if time_budget_s is None or candidate.closed_form else \
            max(1.0, time_budget_s - spent) / len(left)
        said = ": finished earlier, reused" if metrics else f" → {folder}" + (
            f" ({share:.0f} s of training)" if share is not None else "")
        log(f"[{number}/{len(order)}] {candidate.name}{said}")
        if metrics is None:
            metrics = _train_candidate(data_dir, folder, config, candidate, share, command, log, holdout)
        if not candidate.closed_form:
            left.remove(candidate)
            spent += float(metrics.get("seconds_train") or 0.0)
        found[candidate.name] = _row(candidate, metrics, folder)
    table = rank_candidates([found[c.name] for c in entries])  # ties: the list's order, not the training order
    name, decision = choose(table, entries[0].name, lambda other: validation_hits(run_dir / "candidates" / other))
    table = [{**row, "chosen": row["candidate"] == name} for row in table]
    decision["summary"] = decision_line(decision)
    log(decision["summary"])
    return _adopt(data_dir, run_dir, run_dir / "candidates" / name, data, table, decision, command, holdout, log)


def training_order(entries: list[Candidate]) -> list[Candidate]:
    """Cheapest first: closed-form fits, then probes, then the networks from the end of the list, so the first
    (the data-chosen model) trains last, with the budget the cheaper ones left."""
    rank = {id(c): (0 if c.closed_form else 1 if c.probe else 2, -i) for i, c in enumerate(entries)}
    return sorted(entries, key=lambda c: rank[id(c)])


def _train_candidate(data_dir: Path, folder: Path, config: TrainConfig, candidate: Candidate,
                     share: float | None, command: str, log: Log, holdout: tuple[str, str] | None) -> dict[str, Any]:
    """Train (or fit) one candidate into its folder, resuming an interrupted one."""
    values = apply_overrides(to_dict(config), [f"{key}={value}" for key, value in candidate.settings])
    config = from_dict(TrainConfig, values)
    model = dataclasses.replace(config.model, name=candidate.model)
    trainer = dataclasses.replace(config.trainer, time_budget_s=share if share is not None
                                  else config.trainer.time_budget_s)
    config = dataclasses.replace(config, model=model, trainer=trainer)

    def indented(line: str) -> None:
        log("      " + line)

    if candidate.closed_form:
        return fit_logreg_run(data_dir, folder, config, command, indented, holdout)
    return train(data_dir, folder, config, resume=RunFiles(folder).last.exists(), command=command, log=indented,
                 holdout=holdout)


def _row(candidate: Candidate, metrics: dict[str, Any], folder: Path) -> dict[str, Any]:
    """One candidate's line of the table (epochs: rows of its history.csv; 0 for the closed-form fit)."""
    val, test = metrics.get("val", {}), metrics.get("test", {})
    history = folder / "history.csv"
    epochs = max(0, len(history.read_text(encoding="utf-8").splitlines()) - 1) if history.is_file() else 0
    return {"candidate": candidate.name, "model": metrics.get("model", candidate.model),
            "val_accuracy": val.get("accuracy"), "val_macro_f1": val.get("macro_f1"),
            "test_accuracy": test.get("accuracy"), "test_macro_f1": test.get("macro_f1"),
            "seconds_train": metrics.get("seconds_train"), "epochs": epochs}


def rank_candidates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best first by validation accuracy, then validation macro-F1, then list order, with ranks (which one is
    `chosen` is training/choice.py's to say)."""
    order = sorted(range(len(rows)), key=lambda i: (-(rows[i]["val_accuracy"] or 0.0),
                                                   -(rows[i]["val_macro_f1"] or 0.0), i))
    return [{"rank": rank, **rows[i]} for rank, i in enumerate(order, start=1)]


def _adopt(data_dir: Path, run_dir: Path, source: Path, data: PreparedData, table: list[dict[str, Any]],
           decision: dict[str, Any], command: str, holdout: tuple[str, str] | None, log: Log) -> dict[str, Any]:
    """Make `run_dir` an ordinary run of the winner in `source`: its config and checkpoints, fresh reports
    (with the candidates' table) and candidates.csv."""
    best = load_checkpoint(RunFiles(source).best)
    record = read_run_record(source)  # the winner's own: what the data chose, its threads, its backbone
    files = start_run(run_dir, data_dir, data, best.config, command, holdout, threads=record.get("threads"),
                      backbone=record.get("backbone"), recipe=record.get("recipe"))
    for name in ("best.ckpt", "last.ckpt"):
        if (source / "checkpoints" / name).is_file():
            shutil.copyfile(source / "checkpoints" / name, files.root / "checkpoints" / name)
    if (source / "history.csv").is_file():
        shutil.copyfile(source / "history.csv", files.root / "history.csv")
    write_csv_atomic(files.root / "candidates.csv", CANDIDATE_COLUMNS,
                     [[row[key] for key in CANDIDATE_COLUMNS] for row in table])
    rows = check_splits(data)
    history = list(best.state.get("history", []))
    won = next(row for row in table if row["chosen"])
    extra = {"seconds_train": won["seconds_train"], "candidates": table,
             "auto": {"winner": won["candidate"], "ranked_on": "val accuracy, then val macro-F1",
                      "decision": decision,
                      "seconds_train_all": round(sum(float(row["seconds_train"] or 0.0) for row in table), 2),
                      "candidates_dir": str(run_dir / "candidates")}}
    context = {"best_epoch": best.state.get("best_epoch"), **run_context(read_run_record(files.root))}
    metrics = write_model_report(files.root, best, data, {"val": rows["val"], "test": rows["test"]},
                                 (data, rows["train"]), history, extra, context, model_card=True)
    log(f"run: the winner {won['candidate']} → {files.root} (candidates.csv beside it)")
    return metrics


def format_candidates_table(table: list[dict[str, Any]]) -> str:
    """The candidates, best first: validation (which chose) and test (for the record) side by side."""
    width = max([len(str(row["candidate"])) for row in table] + [9])
    lines = [f"rank  {'candidate':<{width}}  val acc  val F1  test acc  test F1  train s  epochs",
             "(ranked on validation only, the data-chosen model kept unless beaten beyond noise; test is shown for "
             "the record)"]
    for row in table:
        lines.append(f"{row['rank']:<4}  {row['candidate']:<{width}}  {_num(row['val_accuracy']):>7}  "
                     f"{_num(row['val_macro_f1']):>6}  {_num(row['test_accuracy']):>8}  "
                     f"{_num(row['test_macro_f1']):>7}  {_num(row['seconds_train'], 1):>7}  {row['epochs']:>6}"
                     + ("  <- chosen" if row["chosen"] else ""))
    return "\n".join(lines)


def _num(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{float(value):.{digits}f}"
