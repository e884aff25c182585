"""Input checks shared by every public entry point: devices, dtypes, counts and token ids.

Each check returns the value in canonical form or raises ``ValueError`` (``TypeError`` for a value
of the wrong type) with one line naming the bad value and what was expected.

Example:
    >>> resolve_dtype("bfloat16")
    torch.bfloat16
    >>> resolve_device("cpu")
    'cpu'
    >>> check_count("n_random", 0)
    Traceback (most recent call last):
    ...
    ValueError: n_random must be a positive integer; got 0
"""

import re

import torch
from torch import Tensor

DTYPE_NAMES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "half": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float64": torch.float64,
    "double": torch.float64,
}
"""The names torch uses for its floating dtypes (with and without ``torch.``), and their short forms."""

_DEVICE = re.compile(r"^(cpu|cuda|mps)(:\d+)?$")


def resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """A floating ``torch.dtype`` from a dtype or its name (``"float32"``, ``"torch.bfloat16"``)."""
    if isinstance(dtype, torch.dtype):
        if not dtype.is_floating_point:
            raise ValueError(f"dtype {dtype} is not a floating dtype; expected one of {_dtype_choices()}")
        return dtype
    if isinstance(dtype, str):
        name = dtype.strip().removeprefix("torch.")
        if name in DTYPE_NAMES:
            return DTYPE_NAMES[name]
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {_dtype_choices()}")
    raise TypeError(f"dtype must be a torch.dtype or its name, got {type(dtype).__name__} {dtype!r}")


def _dtype_choices() -> str:
    return ", ".join(sorted({str(d).removeprefix("torch.") for d in DTYPE_NAMES.values()}))


def resolve_device(device: str | torch.device | None) -> str:
    """The device to run on: CUDA when available for ``None``, else a device that exists here.

    Raises:
        ValueError: A device string torch does not know (``"banana"``), or one this machine
            lacks (``"cuda"`` without CUDA, ``"cuda:3"`` on a one-GPU machine, ``"mps"`` off a Mac).
    """
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str | torch.device):
        raise TypeError(f"device must be a string or torch.device, got {type(device).__name__} {device!r}")
    text = str(device).strip()
    if not _DEVICE.match(text):
        raise ValueError(f"unknown device {text!r}; expected cpu, cuda, cuda:N or mps")
    kind, _, index = text.partition(":")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {text!r} is not available: this machine has no CUDA device; use cpu")
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(
                f"device {text!r} is not available: this machine has {torch.cuda.device_count()} CUDA "
                f"device(s); expected cuda:0 to cuda:{torch.cuda.device_count() - 1}"
            )
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {text!r} is not available on this machine; use cpu")
    return text


def check_count(name: str, value: object, *, minimum: int = 1) -> int:
    """``value`` as an int of at least ``minimum`` (a count of prompts, draws, steps ...)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what}; got {value}")
    return value


def check_token_ids(tokens: object, *, what: str = "token ids") -> Tensor:
    """Integer token ids ``[batch, pos]`` (a ``[pos]`` vector gains a batch axis) with at least one token."""
    if not isinstance(tokens, Tensor):
        raise TypeError(f"expected {what} as a tensor, got {type(tokens).__name__}")
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise ValueError(f"{what} must be integers, got dtype {tokens.dtype}")
    shape = tuple(tokens.shape)
    if tokens.ndim not in (1, 2):
        raise ValueError(f"{what} must be [batch, pos] or [pos], got shape {shape}")
    if tokens.numel() == 0:
        raise ValueError(
            f"{what} are empty (shape {shape}); expected at least one prompt of at least one token"
        )
    return tokens[None] if tokens.ndim == 1 else tokens


def first_line(err: BaseException) -> str:
    """The first line of an error's message (its type's name when the message is empty), for
    one-line errors that wrap another.

    Example:
        >>> first_line(ValueError("bad header\\n  at byte 8")), first_line(KeyError())
        ('bad header', 'KeyError')
    """
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
