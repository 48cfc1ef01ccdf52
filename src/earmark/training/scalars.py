"""Per-epoch scalars for TensorBoard in RUN/tensorboard/ (`tensorboard --logdir RUN`); only rank 0 writes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

# history key → TensorBoard tag; train and val share a chart per quantity
TAGS = {"train_loss": "loss/train", "val_loss": "loss/val", "train_accuracy": "accuracy/train",
        "val_accuracy": "accuracy/val", "lr": "lr", "clips_per_s": "throughput/clips_per_s"}


class ScalarLog:
    """A SummaryWriter with one step per epoch; a resumed run drops the steps it is about to redo."""

    def __init__(self, log_dir: Path, epochs_done: int = 0) -> None:
        from torch.utils.tensorboard import SummaryWriter  # lazy: imports tensorboard and protobuf

        # purge_step hides events a killed run logged after its last checkpoint (they are trained again)
        _wait_for_a_later_second(log_dir)
        self.writer: Any = SummaryWriter(str(log_dir), purge_step=epochs_done + 1 if epochs_done else None)

    def add(self, record: dict[str, float]) -> None:
        """Write one epoch's record (a history row) at step `record["epoch"]`."""
        step = int(record["epoch"])
        for key, tag in TAGS.items():
            if key in record:
                self.writer.add_scalar(tag, record[key], step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _wait_for_a_later_second(log_dir: Path) -> None:
    """TensorBoard reads a folder's event files in name order, and a name starts with the second the file was
    made (then host and pid): a run resumed within the second its killed predecessor started would be read
    first, and its purge of the redone epochs would not apply. Wait out that second (at most one)."""
    stamps = [int(part[3]) for part in (p.name.split(".") for p in log_dir.glob("events.out.tfevents.*"))
              if len(part) > 3 and part[3].isdigit()]
    deadline = time.monotonic() + 1.1  # a file stamped in the future (clock change) is not waited for
    while stamps and int(time.time()) <= max(stamps) and time.monotonic() < deadline:
        time.sleep(0.05)
