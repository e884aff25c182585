"""``load_model``: every way of naming a model, one ``HookedModel`` out.

Accepted specs:

- a Hugging Face hub id (``"gpt2"``, ``"EleutherAI/pythia-70m"``) or a local
  checkpoint directory;
- an already-built Hugging Face ``*ForCausalLM`` object, with ``tokenizer=``;
- ``"llama2c:PATH"``, a llama2.c checkpoint with its tokenizer file beside it;
- ``"zoo:NAME"``, one of the toolkit's own trained model organisms;
- a GGUF file (``"model.gguf"``), a directory holding one and no ``config.json``, or the name of a
  GGUF model shipped in a Python package (``"smollm2-135m"``, see :data:`interp.gguf.PACKAGED_MODELS`),
  dequantized once and cached (:mod:`interp.gguf`).
"""

import json
import re
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from interp.checks import first_line, resolve_device, resolve_dtype
from interp.gguf import PACKAGED_MODELS, cached_checkpoint, gguf_in_dir, packaged_gguf
from interp.hooked_model import HookedModel

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
SPEC_FORMS = (
    "a hub id, a local directory, a .gguf file, 'llama2c:PATH', 'zoo:NAME', a packaged model "
    f"({', '.join(sorted(PACKAGED_MODELS))}), or a Hugging Face model object"
)


def load_model(
    spec: str | Path | torch.nn.Module,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str = torch.float32,
    *,
    tokenizer: Any = None,
) -> HookedModel:
    """Load a model from any spec form and wrap it as a :class:`HookedModel`.

    Args:
        spec: What to load; see the module docstring.
        device: Where to put it (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``); defaults to CUDA when
            available, else CPU.
        dtype: The weights' dtype, or its name as torch spells it (``"float32"``, ``"bfloat16"``).
        tokenizer: The tokenizer, required when ``spec`` is a model object.

    Returns:
        The wrapped model, in eval mode.

    Raises:
        ValueError: An unknown spec form or zoo name, a model object without a tokenizer, a device that
            does not exist here, an unknown dtype, a directory that holds no model, or a checkpoint
            that is corrupt or truncated.
        FileNotFoundError: A local path that does not exist.
        ImportError: A GGUF file without the ``gguf`` package installed.

    Example:
        >>> from interp.testing import save_tiny_checkpoint
        >>> import tempfile
        >>> model = load_model(save_tiny_checkpoint("llama", tempfile.mkdtemp()))
        >>> model.n_heads, model.n_kv_heads
        (4, 2)
    """
    device = resolve_device(device)
    dtype = resolve_dtype(dtype)
    if isinstance(spec, torch.nn.Module):
        if tokenizer is None:
            raise ValueError(
                "a Hugging Face model object needs its tokenizer: load_model(model, tokenizer=tok)"
            )
        name = getattr(spec.config, "_name_or_path", "") or spec.config.model_type
        return _wrap(spec, tokenizer, f"object:{name}", device, dtype)
    if not isinstance(spec, str | Path):
        raise ValueError(f"unknown model spec {spec!r} of type {type(spec).__name__}; expected {SPEC_FORMS}")
    text = str(spec)
    if not text.strip():
        raise ValueError(f"empty model spec {text!r}; expected {SPEC_FORMS}")
    if text.startswith("llama2c:"):
        from interp.llama2c import convert_llama2c

        hf_model, tok = convert_llama2c(Path(text.removeprefix("llama2c:")).expanduser())
        return _wrap(hf_model, tok, text, device, dtype)
    if text.startswith("zoo:"):
        from interp.zoo import zoo_path

        hf_model, tok = _from_pretrained(str(zoo_path(text.removeprefix("zoo:"))))
        return _wrap(hf_model, tok, text, device, dtype)
    if text in PACKAGED_MODELS:
        return _wrap(*_from_gguf(packaged_gguf(text)), text, device, dtype)
    path = Path(text).expanduser()
    if path.suffix.lower() == ".gguf" and not path.is_dir():
        return _wrap(*_from_gguf(path), text, device, dtype)
    if path.is_dir():
        gguf_file = None if (path / "config.json").exists() else gguf_in_dir(path)
        if gguf_file is not None:
            return _wrap(*_from_gguf(gguf_file), text, device, dtype)
        hf_model, tok = _from_pretrained(str(path.resolve()))
        return _wrap(hf_model, tok, text, device, dtype)
    if path.exists() or text.startswith((".", "/", "~")) or ":" in text or not _HUB_ID.match(text):
        if path.exists():
            raise ValueError(f"{text!r} is a file, not a checkpoint directory; expected {SPEC_FORMS}")
        if ":" in text and not text.startswith((".", "/", "~")):
            raise ValueError(f"unknown model spec {text!r}; expected {SPEC_FORMS}")
        raise FileNotFoundError(f"no checkpoint directory at {text!r}; expected {SPEC_FORMS}")
    hf_model, tok = _from_pretrained(text)
    return _wrap(hf_model, tok, text, device, dtype)


def _from_pretrained(name_or_dir: str) -> tuple[torch.nn.Module, Any]:
    """Load a causal LM and its tokenizer from the hub or a local directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = Path(name_or_dir).is_dir()
    if local:
        _check_checkpoint_dir(Path(name_or_dir))
    with _explained(
        name_or_dir, local, "the tokenizer", "expected the tokenizer files save_pretrained writes"
    ):
        tok = AutoTokenizer.from_pretrained(name_or_dir)
    with _explained(name_or_dir, local, "the weights", "the checkpoint may be truncated or corrupt"):
        hf_model = AutoModelForCausalLM.from_pretrained(name_or_dir, attn_implementation="eager")
    return hf_model, tok


def _from_gguf(path: Path) -> tuple[torch.nn.Module, Any]:
    """A GGUF file's model and tokenizer, through its cached dequantized checkpoint."""
    return _from_pretrained(str(cached_checkpoint(path.expanduser())))


@contextmanager
def _explained(name_or_dir: str, local: bool, what: str, hint: str) -> Iterator[None]:
    """Turn a loading failure into one line: the hub id or the folder, what failed, what to do."""
    try:
        yield
    except Exception as err:
        if not local:
            raise OSError(
                f"could not load {name_or_dir!r} as a Hugging Face checkpoint (a hub id needs the "
                f"network or a local cache): {first_line(err)}"
            ) from err
        raise ValueError(
            f"could not load {what} in {name_or_dir!r}: {first_line(err)}; {hint} "
            "(save it again with save_pretrained)"
        ) from err


WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
"""The weight files ``save_pretrained`` writes (one of them)."""

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model")
"""The vocabulary files a tokenizer's ``save_pretrained`` writes (one of them)."""


def _check_checkpoint_dir(path: Path) -> None:
    """A directory ``save_pretrained`` wrote: a config, weights, and complete safetensors files."""
    if not (path / "config.json").is_file():
        raise ValueError(
            f"directory {str(path)!r} holds no config.json, so it is not a model checkpoint; expected a "
            "directory written by save_pretrained"
        )
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise ValueError(
            f"directory {str(path)!r} holds no weights; expected one of {', '.join(WEIGHT_FILES)}"
        )
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise ValueError(
            f"directory {str(path)!r} holds no tokenizer; expected one of {', '.join(TOKENIZER_FILES)} "
            "(save the tokenizer with save_pretrained into the same folder)"
        )
    for file in sorted(path.glob("*.safetensors")):
        _check_safetensors(file)


def _check_safetensors(file: Path) -> None:
    """Raise naming ``file`` when its header or its size says it is cut short or not safetensors."""
    problem = _safetensors_problem(file)
    if problem:
        raise ValueError(
            f"checkpoint file {str(file)!r} is truncated or corrupt ({problem}); save it again with "
            "save_pretrained"
        )


def _safetensors_problem(file: Path) -> str | None:
    """What is wrong with a safetensors file's layout (an 8-byte header size, JSON, then data), or None."""
    size = file.stat().st_size
    with file.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return f"{size} bytes, too short for a safetensors header"
        (n_header,) = struct.unpack("<Q", head)
        if n_header > size - 8:
            return f"its header claims {n_header} bytes but the file has {size}"
        try:
            header = json.loads(handle.read(n_header))
            ends = [t["data_offsets"][1] for name, t in header.items() if name != "__metadata__"]
        except (ValueError, KeyError, TypeError, AttributeError):
            return "its header is not valid safetensors JSON"
    needed = 8 + n_header + max(ends, default=0)
    return f"its tensors need {needed} bytes but the file has {size}" if needed > size else None


def _wrap(hf_model: torch.nn.Module, tok: Any, spec: str, device: str, dtype: torch.dtype) -> HookedModel:
    hf_model = hf_model.to(device=device, dtype=dtype)
    if hasattr(hf_model.config, "_attn_implementation") and hf_model.config._attn_implementation != "eager":
        hf_model.set_attn_implementation("eager")
    return HookedModel(hf_model, _reloadable(tok), spec=spec, device=device)


def _reloadable(tok: Any) -> Any:
    """A tokenizer built in memory is saved to a directory and loaded back from it."""
    from transformers import AutoTokenizer

    source = getattr(tok, "name_or_path", "")
    if source and Path(source).is_dir():
        return tok
    folder = tempfile.mkdtemp(prefix="interp-tokenizer-")
    tok.save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)
