from __future__ import annotations

import io

import pytest
import torch

from earmark.errors import ConfigError
from earmark.models import count_parameters, create_model, list_models

NAMES = [spec.name for spec in list_models()]


@pytest.mark.parametrize("name", NAMES)
def test_output_shape_gradients_and_variable_length(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=7, num_features=40)
    for frames in (50, 101, 333):
        logits = model(torch.randn(4, 1, 40, frames))
        assert logits.shape == (4, 7) and torch.isfinite(logits).all()
    logits.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing


@pytest.mark.parametrize("name", NAMES)
def test_eval_is_deterministic_and_state_round_trips(name: str) -> None:
    model = create_model(name, num_classes=3, num_features=64).eval()
    x = torch.randn(2, 1, 64, 90)
    first = model(x)
    assert torch.equal(first, model(x))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    other = create_model(name, num_classes=3, num_features=64).eval()
    other.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.allclose(other(x), first)
    assert count_parameters(model) > 0


def test_unknown_model_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match=r"valid models: .*cnn"):
        create_model("resnet9000", 2, 64)
