"""The model zoo: a registry of named models that map `[B, 1, F, T]` features to logits `[B, K]`."""

from earmark.models.registry import DEFAULT_MODEL, ModelSpec, count_parameters, create_model, list_models

__all__ = ["DEFAULT_MODEL", "ModelSpec", "count_parameters", "create_model", "list_models"]
