"""Inference: any file → windows → scores → a clip decision."""

from earmark.inference.predictor import Prediction, Predictor

__all__ = ["Prediction", "Predictor"]
