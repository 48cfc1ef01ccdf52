"""Typed configuration: one dataclass per component, YAML in, resolved YAML out, unknown keys are errors."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from earmark.errors import ConfigError

T = TypeVar("T")
EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")  # 1e-6: YAML 1.1 wants 1.0e-6 to read a float
AUTO = "auto"  # the one string a numeric key may hold: chosen from the data at the start of training (training/recipe)


@dataclass
class DataConfig:
    """How training and evaluation read the prepared clips."""

    window_s: float | str = AUTO  # every example the model sees is this long; short clips are padded; auto: from data
    eval_hop_s: float | str = AUTO  # hop between evaluation windows of a long clip; auto: half the window
    aggregate: str = "mean"  # windows → clip: mean | vote | max
    num_workers: int = 0  # the cache is memory-mapped: loading is cheap, workers rarely pay off on CPU

    @property
    def resolved_window_s(self) -> float:
        """`window_s` in seconds, once resolved (training resolves `auto` before anything reads it)."""
        return _resolved(self.window_s, "data.window_s")

    def window_samples(self, sample_rate: int) -> int:
        """The resolved window in samples at `sample_rate`: what training, evaluation and export cut."""
        return round(self.resolved_window_s * sample_rate)

    @property
    def resolved_hop_s(self) -> float:
        """`eval_hop_s` in seconds, once resolved."""
        return _resolved(self.eval_hop_s, "data.eval_hop_s")


@dataclass
class FeatureConfig:
    """The front-end computed on the device from raw waveforms; stored with the model."""

    kind: str = "logmel"  # spectrogram | logmel | mfcc; image | table: set from the prepared data (data/items.py)
    n_fft: int = 512
    hop_length: int = 160
    n_mels: int = 64
    n_mfcc: int = 20
    deltas: bool = False
    f_min: float = 20.0
    f_max: float | None = None  # None: Nyquist
    top_db: float | None = 80.0
    normalize: str = "dataset"  # dataset (per-frequency mean/std of the training split) | instance | none
    # Images and feature tables (copied from the prepared data when training starts; empty for audio):
    shape: list[int] = field(default_factory=list)  # image [C, H, W] or table [F]: the values of one item
    resize: str = ""  # the images' resize policy (data/images.py), applied the same way by predict
    columns: list[str] = field(default_factory=list)  # a table's feature columns, in the order the model reads them


@dataclass
class AugmentConfig:
    """Train-only augmentation on the device; every switch off at evaluation."""

    gain_db: float = 6.0  # random gain in ±gain_db
    time_shift: bool = True  # a random window of a long clip, a random place for a short one; False: centred
    # The random window of a long clip holds sound: it is drawn among the windows within this many dB of the
    # clip's loudest (None: anywhere). ESC-10 pads short sounds with silence (a sneeze clip is half silence),
    # so a plain random 2-s crop was often silence labelled "sneeze".
    loud_window_db: float | None = 20.0
    noise_snr_db: float | None = 30.0  # additive noise at a random SNR in [snr, snr + 20] dB; None: off
    noise_prob: float = 0.5
    noise_color: str = "white"  # white | pink (synthetic noise, when no noise_dir is given)
    noise_dir: str | None = None  # a folder of background recordings: random crops of them are the noise
    mixup_alpha: float = 0.0  # mixup of waveforms and targets, mixing weight ~ Beta(alpha, alpha); 0: off
    warp_freq: float = 0.1  # stretch the frequency axis by up to ±10% from 0 Hz (vocal-tract-length style)
    warp_time: float = 0.1  # stretch time by up to ±10% around the centre
    # SpecAugment masks are opt-in: with 2+2 masks, `cnn` on FSDD's official split fell from 97.7% to 82.3%
    # (12 epochs, n = 300); short, band-limited clips lose too much of the word.
    freq_masks: int = 0
    freq_mask_width: int = 8
    time_masks: int = 0
    time_mask_width: int = 10
    image_shift: float = 0.1  # images: random shift by up to this fraction of each side (zero padded); 0: off
    image_flip: bool = False  # images: random left-right flip (off: wrong for digits and text)


@dataclass
class ModelConfig:
    """Which registered model and its options (see `earmark models`)."""

    name: str = AUTO  # auto: chosen from the dataset (training/recipe.py); or any name of `earmark models`
    dropout: float = 0.2
    # transfer learning: a checkpoint or run directory whose weights are loaded where name and shape match
    init_from: str | None = None
    freeze: list[str] = field(default_factory=list)  # glob ('network.features.*') or 'regex:PATTERN'; no training
    # pretrained backbones (`earmark models`; ge2e, hf:ID_OR_DIR, ...): where their weights come from and how they train
    weights: str | None = None  # a weights file (or an hf folder) instead of the official source
    finetune: bool = False  # False: frozen backbone, head trained on cached embeddings (probe); True: all of it
    head: str = "linear"  # on the backbone's embedding: linear | mlp


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule."""

    optimizer: str = "adamw"  # adamw | adam | sgd
    lr: float = 3e-3
    weight_decay: float = 1e-2
    momentum: float = 0.9
    warmup_epochs: float = 1.0
    schedule: str = "cosine"  # cosine (after the warmup) | onecycle (warm up from lr/25, anneal to lr/1e4) | constant
    label_smoothing: float = 0.05
    grad_clip: float | None = 5.0
    pretrained_lr_scale: float = 0.1  # weights loaded by model.init_from train at this fraction of `lr`


@dataclass
class TrainerConfig:
    """Loop, device and reproducibility."""

    epochs: int | str = AUTO  # auto: follows the dataset size (training/recipe.py)
    batch_size: int = 32
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    devices: int = 1  # processes per machine (GPUs, or CPU processes under DDP)
    num_nodes: int = 1  # machines, when launched by torchrun or SLURM (see the README)
    precision: str = "auto"  # auto | 32 | bf16-mixed | 16-mixed
    monitor: str = "val_accuracy"
    patience: int | str | None = AUTO  # stop after this many epochs without improvement (not in the first half); auto
    time_budget_s: float | None = None  # stop after the epoch that spends this many seconds of training
    threads: int | None = None  # torch intra-op threads; None: torch's default
    compile: bool = False  # torch.compile the network (on CPU this needs a C++ compiler)

    @property
    def resolved_epochs(self) -> int:
        """`epochs` as a number, once resolved."""
        return int(_resolved(self.epochs, "trainer.epochs"))

    @property
    def resolved_patience(self) -> int | None:
        """`patience` as a number (None: no early stopping), once resolved."""
        return None if self.patience is None else int(_resolved(self.patience, "trainer.patience"))


@dataclass
class CalibrationConfig:
    """What is fitted on the validation clips at the end of training and stored with the model (and its exports)."""

    temperature: bool = True  # fit a temperature so clip scores are calibrated (never changes a top label)
    reject_coverage: float | None = None  # answer `unknown` on the least confident (1 - this) share of clips
    reject_precision: float | None = None  # or: the lowest threshold whose answered clips are this often right

    def __post_init__(self) -> None:
        for key in ("reject_coverage", "reject_precision"):
            value = getattr(self, key)
            if value is not None and not 0.0 < value <= 1.0:
                raise ConfigError(f"calibration.{key}: expected a fraction in (0, 1], got {value!r}")
        if self.reject_coverage is not None and self.reject_precision is not None:
            raise ConfigError("calibration.reject_coverage and calibration.reject_precision: set one, not both")


def _resolved(value: float | str, key: str) -> float:
    """A numeric key after resolution; reading `auto` before it is a bug, not a user error."""
    if isinstance(value, str):
        raise RuntimeError(f"{key} is still {value!r}: resolve the config first (earmark.training.recipe)")
    return value


@dataclass
class TrainConfig:
    """Everything `earmark train` needs; saved resolved in the run and in every checkpoint."""

    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)


def from_dict(cls: type[T], values: dict[str, Any], where: str = "") -> T:
    """Build dataclass `cls` from a plain dict, refusing unknown keys and wrong types."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown key {where}{unknown[0]!s}; valid keys: {', '.join(sorted(known))}")
    kwargs = {key: _coerce(hints[key], value, f"{where}{key}") for key, value in values.items()}
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """Check `value` against a type hint (dataclass, Optional, list, bool/int/float/str)."""
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, f"{where}.")  # type: ignore[arg-type]
    if typing.get_origin(hint) is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(typing.get_args(hint)[0], item, f"{where}[{i}]") for i, item in enumerate(value)]
    args = typing.get_args(hint)
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    if isinstance(value, str) and EXPONENT.fullmatch(value) and float in (args if union else (hint,)):
        return float(value)  # YAML 1.1 reads 1e-6 (no dot) as a string
    if union:
        if value is None and type(None) in args:
            return None
        numbers = [a for a in args if a in (int, float)]
        if str in args and numbers and isinstance(value, str):  # a number or "auto"
            if value != AUTO:
                raise ConfigError(f"{where}: expected {numbers[0].__name__} or {AUTO!r}, got {value!r}")
            return value
        hint = numbers[0] if numbers else next(a for a in args if a is not type(None))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool, float) and (type(value) is not hint):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict of a config dataclass (safe for YAML, JSON and weights-only checkpoints)."""
    return dataclasses.asdict(config)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse one `--set section.key=value`; the value is read as YAML (numbers, null, true...)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. optim.lr=0.001")
    try:
        return key.strip().split("."), yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r}: not a YAML value ({_one_line(exc)})") from None


def _one_line(exc: BaseException) -> str:
    """A YAML error (several lines with a caret under the culprit) as one line."""
    return " ".join(str(exc).split())[:200]


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `--set` overrides onto a nested dict (validated later by `from_dict`)."""
    for text in overrides:
        path, value = parse_override(text)
        _set_path(values, path, value, f"--set {text!r}")
    return values


def _set_path(values: dict[str, Any], path: list[str], value: Any, where: str) -> None:
    """values[a][b][c] = value for path [a, b, c], creating sections on the way."""
    node = values
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{where}: {part} is not a section")
    node[path[-1]] = value


def load_train_config(path: Path | None = None, overrides: list[str] | None = None,
                      flags: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults, then a YAML file, then `--set` overrides, then typed `flags` {"section.key": value}; all checked."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read config ({_one_line(exc)})") from None
    values = apply_overrides(values, overrides or [])
    for key, value in (flags or {}).items():
        _set_path(values, key.split("."), value, key)
    return from_dict(TrainConfig, values)


def dump_yaml(config: Any) -> str:
    """The resolved config as YAML text."""
    return yaml.safe_dump(to_dict(config), sort_keys=False)
