"""Fixtures shared by the method tests: one tiny random model per supported architecture."""

import pytest
import torch

from interp.testing import tiny_model

ARCHS = ("gpt2", "neox", "llama")


@pytest.fixture(scope="module", params=ARCHS)
def arch_model(request):
    """A tiny random model of each architecture in turn."""
    return tiny_model(request.param)


@pytest.fixture
def tokens():
    """Three random prompts of nine tokens from the tiny models' vocabulary."""
    return torch.randint(4, 64, (3, 9))
