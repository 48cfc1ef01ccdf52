"""Inference: any file → windows → scores → a clip decision, from a checkpoint or an export."""

from earmark.inference.backends import ModelInfo, open_backend
from earmark.inference.predictor import Prediction, Predictor

__all__ = ["ModelInfo", "Prediction", "Predictor", "open_backend"]
