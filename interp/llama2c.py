"""Convert llama2.c checkpoints and tokenizers into Hugging Face objects.

llama2.c stores a Llama model as seven little-endian int32 header values and
float32 weight arrays, and its SentencePiece vocabulary in a separate file.
This module turns such a pair into a ``LlamaForCausalLM`` and a fast tokenizer
that reproduce llama2.c's logits and token ids.

Example:
    >>> model, tokenizer = convert_llama2c("stories260K.bin")  # doctest: +SKIP
"""

import hashlib
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, processors

_HEADER = struct.Struct("<7i")
_FLOAT_BYTES = 4
# Header fields in file order, with the largest value accepted as plausible.
_MAX_SIZES = dict(
    dim=1 << 16, hidden_dim=1 << 20, n_layers=1024, n_heads=1024, n_kv_heads=1024,
    vocab_size=1 << 24, seq_len=1 << 22,
)  # fmt: skip
_SPECIAL_PIECES = ("<unk>", "<s>", "</s>")
_SPACE = "\u2581"


@dataclass(frozen=True, kw_only=True)
class Llama2cConfig:
    """Hyperparameters stored in the header of a llama2.c checkpoint.

    Attributes:
        dim: Width of the residual stream (Hugging Face ``hidden_size``).
        hidden_dim: Width of the SwiGLU feed-forward layer (``intermediate_size``).
        n_layers: Number of transformer blocks.
        n_heads: Number of query heads.
        n_kv_heads: Number of key/value heads (grouped-query attention).
        vocab_size: Number of tokens in the vocabulary (always positive here).
        seq_len: Maximum context length the model was trained with.
        shared_classifier: Whether the output classifier reuses the token
            embedding (a positive vocabulary size in the header) or is stored
            separately at the end of the file (a negative one).
    """

    dim: int
    hidden_dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    seq_len: int
    shared_classifier: bool

    @property
    def head_size(self) -> int:
        """Width of one attention head."""
        return self.dim // self.n_heads

    def expected_file_size(self) -> int:
        """Return the size in bytes that a checkpoint with this header must have."""
        d, h, n, v = self.dim, self.hidden_dim, self.n_layers, self.vocab_size
        kv = self.n_kv_heads * self.head_size
        floats = v * d  # token embedding
        floats += n * (2 * d + d * d + 2 * d * kv + d * d + 3 * d * h)  # per-layer
        floats += d + self.seq_len * self.head_size  # final norm, freq_cis real+imag
        if not self.shared_classifier:
            floats += v * d
        return _HEADER.size + _FLOAT_BYTES * floats


def _bad(path: Path, message: str) -> ValueError:
    return ValueError(f"invalid llama2.c file {str(path)!r}: {message}")


def _existing_file(path: str | os.PathLike[str], what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"llama2.c {what} not found: {str(path)!r} is not a file")
    return path


def read_llama2c_header(path: str | os.PathLike[str]) -> Llama2cConfig:
    """Read and validate the header of a llama2.c checkpoint.

    Args:
        path: Path to a llama2.c "version 0" checkpoint such as ``stories260K.bin``.

    Returns:
        The model's hyperparameters.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        ValueError: If the header holds non-positive or inconsistent sizes, or
            the file size differs from the size the header implies.
    """
    path = _existing_file(path, "checkpoint")
    actual_size = path.stat().st_size
    with path.open("rb") as f:
        raw = f.read(_HEADER.size)
    if len(raw) < _HEADER.size:
        raise _bad(path, f"expected at least {_HEADER.size} header bytes, got {actual_size}")
    header = list(_HEADER.unpack(raw))
    shared, header[5] = header[5] > 0, abs(header[5])  # negative vocab: separate classifier
    for (name, limit), value in zip(_MAX_SIZES.items(), header, strict=True):
        if not 0 < value <= limit:
            raise _bad(path, f"header has {name}={value}, expected an integer in 1..{limit}")
    config = Llama2cConfig(**dict(zip(_MAX_SIZES, header, strict=True)), shared_classifier=shared)
    if config.dim % config.n_heads or config.head_size % 2:
        raise _bad(
            path,
            f"header has dim={config.dim}, expected a multiple of 2 * n_heads={config.n_heads}",
        )
    if config.n_heads % config.n_kv_heads:
        raise _bad(
            path,
            f"header has n_heads={config.n_heads}, expected a multiple of n_kv_heads={config.n_kv_heads}",
        )
    if actual_size != config.expected_file_size():
        raise _bad(
            path,
            f"expected {config.expected_file_size()} bytes for header {config}, got "
            f"{actual_size} bytes (truncated, or not a version-0 llama2.c checkpoint?)",
        )
    return config


def _permute_rope(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Reorder rows of wq/wk from interleaved RoPE pairs (llama2.c) to rotated halves (HF)."""
    out_features, in_features = w.shape
    head_size = out_features // n_heads
    pairs = w.view(n_heads, head_size // 2, 2, in_features)
    return pairs.transpose(1, 2).reshape(out_features, in_features)


def _hf_config(config: Llama2cConfig) -> transformers.LlamaConfig:
    return transformers.LlamaConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.dim,
        intermediate_size=config.hidden_dim,
        num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads,
        num_key_value_heads=config.n_kv_heads,
        head_dim=config.head_size,
        hidden_act="silu",
        max_position_embeddings=config.seq_len,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=config.shared_classifier,
        bos_token_id=1,
        eos_token_id=2,
        attn_implementation="eager",
    )


def load_llama2c_model(
    path: str | os.PathLike[str], dtype: torch.dtype = torch.float32
) -> transformers.LlamaForCausalLM:
    """Load a llama2.c checkpoint as a Hugging Face ``LlamaForCausalLM``.

    Args:
        path: Path to a llama2.c "version 0" checkpoint.
        dtype: Floating-point dtype of the returned model's parameters.

    Returns:
        The model in eval mode, using eager attention.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        ValueError: If the header is invalid or the file size does not match it.
    """
    config = read_llama2c_header(path)
    data = torch.from_numpy(np.fromfile(path, dtype="<f4", offset=_HEADER.size).astype(np.float32))
    d, h, n, v = config.dim, config.hidden_dim, config.n_layers, config.vocab_size
    kv = config.n_kv_heads * config.head_size
    offset = 0

    def take(*shape: int) -> torch.Tensor:
        nonlocal offset
        count = int(np.prod(shape))
        tensor = data[offset : offset + count].view(*shape)
        offset += count
        return tensor

    embedding = take(v, d)
    rms_att, wq, wk, wv = take(n, d), take(n, d, d), take(n, kv, d), take(n, kv, d)
    wo, rms_ffn = take(n, d, d), take(n, d)
    w1, w2, w3 = take(n, h, d), take(n, d, h), take(n, h, d)
    rms_final = take(d)
    take(2, config.seq_len, config.head_size // 2)  # freq_cis: recomputed by RoPE
    state = {"model.embed_tokens.weight": embedding, "model.norm.weight": rms_final}
    state["lm_head.weight"] = embedding if config.shared_classifier else take(v, d)
    for i in range(n):
        prefix = f"model.layers.{i}."
        state[prefix + "input_layernorm.weight"] = rms_att[i]
        state[prefix + "self_attn.q_proj.weight"] = _permute_rope(wq[i], config.n_heads)
        state[prefix + "self_attn.k_proj.weight"] = _permute_rope(wk[i], config.n_kv_heads)
        state[prefix + "self_attn.v_proj.weight"] = wv[i]
        state[prefix + "self_attn.o_proj.weight"] = wo[i]
        state[prefix + "post_attention_layernorm.weight"] = rms_ffn[i]
        state[prefix + "mlp.gate_proj.weight"] = w1[i]
        state[prefix + "mlp.down_proj.weight"] = w2[i]
        state[prefix + "mlp.up_proj.weight"] = w3[i]

    model = transformers.LlamaForCausalLM(_hf_config(config))
    model.load_state_dict(state, strict=True)
    return model.to(dtype).eval()


def _read_llama2c_vocab(path: Path) -> list[tuple[str, float]]:
    """Parse a llama2.c tokenizer file into (SentencePiece piece, score) pairs."""
    raw = path.read_bytes()
    if len(raw) < 4:
        raise _bad(path, f"expected at least 4 bytes, got {len(raw)}")
    (max_len,) = struct.unpack_from("<i", raw, 0)
    pos, vocab = 4, []
    while pos < len(raw):
        if pos + 8 > len(raw):
            raise _bad(path, f"token {len(vocab)} is truncated at byte {pos}")
        score, length = struct.unpack_from("<fi", raw, pos)
        pos += 8
        if not 0 < length <= max(max_len, 0) or pos + length > len(raw):
            raise _bad(path, f"token {len(vocab)} has length {length}, expected 1..{max_len}")
        try:
            piece = raw[pos : pos + length].decode("utf-8")
        except UnicodeDecodeError as err:
            raise _bad(path, f"token {len(vocab)} is not valid UTF-8") from err
        pos += length
        if len(vocab) < len(_SPECIAL_PIECES):
            piece = _SPECIAL_PIECES[len(vocab)]  # llama2.c stores "\n<s>\n" etc.
        vocab.append((piece.replace(" ", _SPACE), score))
    if len(vocab) <= len(_SPECIAL_PIECES):
        raise _bad(path, f"expected more than 3 tokens, got {len(vocab)}")
    return vocab


def _is_byte_piece(piece: str) -> bool:
    return len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">")


def _build_tokenizer(vocab: list[tuple[str, float]], path: Path) -> Tokenizer:
    ids: dict[str, int] = {}
    for i, (piece, _) in enumerate(vocab):
        if piece in ids:
            raise _bad(path, f"token {i} repeats token {ids[piece]} ({piece!r})")
        ids[piece] = i
    mergeable = {p for p in ids if p not in _SPECIAL_PIECES and not _is_byte_piece(p)}
    ranked = []
    for piece in mergeable:
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in mergeable and right in mergeable:
                # Greedy llama2.c/SentencePiece merges the pair with the best merged score.
                ranked.append((-vocab[ids[piece]][1], ids[piece], cut, left, right))
    merges = [(left, right) for *_, left, right in sorted(ranked)]
    bpe = models.BPE(vocab=ids, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True)
    tokenizer = Tokenizer(bpe)
    tokenizer.add_special_tokens(list(_SPECIAL_PIECES))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Prepend(_SPACE), normalizers.Replace(" ", _SPACE)]
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
    )
    tokenizer.decoder = decoders.Sequence(
        [
            decoders.Replace(_SPACE, " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),  # the dummy-prefix space
        ]
    )
    return tokenizer


def load_llama2c_tokenizer(
    path: str | os.PathLike[str],
    save_dir: str | os.PathLike[str],
    *,
    vocab_size: int | None = None,
    model_max_length: int | None = None,
) -> transformers.PreTrainedTokenizerFast:
    """Convert a llama2.c tokenizer file into a Hugging Face fast tokenizer.

    It encodes text as llama2.c's greedy BPE ``encode`` does (dummy-prefix
    space, highest-score merge first, byte fallback) and prepends BOS. It is
    saved to ``save_dir`` and loaded back, as in-memory tokenizers break
    consumers that reload them.

    Args:
        path: Path to a llama2.c tokenizer file such as ``tok512.bin``.
        save_dir: Directory to save the tokenizer files into (created if needed).
        vocab_size: If given, the number of tokens the file must hold.
        model_max_length: If given, stored as the tokenizer's maximum length.

    Returns:
        The tokenizer loaded back from ``save_dir`` with ``AutoTokenizer``.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        ValueError: If the file is malformed or its size differs from ``vocab_size``.
    """
    path = _existing_file(path, "tokenizer")
    vocab = _read_llama2c_vocab(path)
    if vocab_size is not None and len(vocab) != vocab_size:
        raise _bad(path, f"holds {len(vocab)} tokens, expected {vocab_size} (the model's vocab)")
    kwargs = {} if model_max_length is None else {"model_max_length": model_max_length}
    wrapped = transformers.PreTrainedTokenizerFast(
        tokenizer_object=_build_tokenizer(vocab, path),
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        **kwargs,
    )
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(save_dir)
    return transformers.AutoTokenizer.from_pretrained(save_dir)


def _find_tokenizer(checkpoint: Path, vocab_size: int) -> Path:
    candidates = [checkpoint.parent / f"tok{vocab_size}.bin", checkpoint.parent / "tokenizer.bin"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(repr(str(c)) for c in candidates)
    raise FileNotFoundError(f"no llama2.c tokenizer found beside the checkpoint; tried {tried}")


def _cache_dir(checkpoint: Path, tokenizer: Path) -> Path:
    key = hashlib.sha256()
    for file in (checkpoint, tokenizer):
        stat = file.stat()
        key.update(f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    name = f"{checkpoint.stem}-{key.hexdigest()[:16]}"
    return Path(tempfile.gettempdir()) / "interp-llama2c" / name


def _write_converted(checkpoint: Path, tokenizer: Path, out_dir: Path) -> None:
    config = read_llama2c_header(checkpoint)
    load_llama2c_tokenizer(tokenizer, out_dir, vocab_size=config.vocab_size, model_max_length=config.seq_len)
    load_llama2c_model(checkpoint).save_pretrained(out_dir)


def convert_llama2c(
    checkpoint_path: str | os.PathLike[str],
    tokenizer_path: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
) -> tuple[transformers.LlamaForCausalLM, transformers.PreTrainedTokenizerFast]:
    """Convert a llama2.c checkpoint and tokenizer into a Hugging Face directory.

    Args:
        checkpoint_path: Path to the llama2.c checkpoint.
        tokenizer_path: Path to its tokenizer file. If None, ``tok{vocab_size}.bin``
            and then ``tokenizer.bin`` beside the checkpoint are tried.
        out_dir: Directory to save the model and tokenizer into. If None, a cache
            directory under ``tempfile.gettempdir()`` keyed by the files' sizes
            and modification times is used, and reused when already complete.

    Returns:
        The model (eval mode) and tokenizer, both loaded back from the output
        directory, which ``from_pretrained`` can load again later.

    Raises:
        FileNotFoundError: If the checkpoint or tokenizer file is missing.
        ValueError: If either file is malformed or their vocabulary sizes differ.
    """
    checkpoint = _existing_file(checkpoint_path, "checkpoint")
    config = read_llama2c_header(checkpoint)
    if tokenizer_path is None:
        tokenizer = _find_tokenizer(checkpoint, config.vocab_size)
    else:
        tokenizer = _existing_file(tokenizer_path, "tokenizer")
    if out_dir is not None:
        target = Path(out_dir)
        _write_converted(checkpoint, tokenizer, target)
    else:
        target = _cache_dir(checkpoint, tokenizer)
        if not (target / "config.json").is_file():
            # Build beside the cache entry, then rename, so readers never see half a directory.
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
            try:
                _write_converted(checkpoint, tokenizer, staging)
                try:
                    staging.rename(target)
                except OSError:
                    if not (target / "config.json").is_file():
                        raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    model = transformers.LlamaForCausalLM.from_pretrained(target, attn_implementation="eager")
    return model.eval(), transformers.AutoTokenizer.from_pretrained(target)
