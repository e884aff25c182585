"""``HookedModel``: one wrapper for reading and intervening on a model's insides.

The main backend is a TransformerLens 4 ``TransformerBridge`` in compatibility
mode without weight processing, so hook names are TransformerLens's
(``blocks.3.attn.hook_pattern``, ``blocks.3.hook_resid_pre``) and the logits
are the Hugging Face model's own. ``weights`` gives the canonical per-head view
and ``nnsight`` an nnsight view over the same parameters.

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("gpt2")
    >>> logits, cache = model.run_with_cache("t5 t6 t7", names_filter=lambda n: "pattern" in n)
    >>> tuple(cache["blocks.0.attn.hook_pattern"].shape)
    (1, 4, 4, 4)
"""

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.checks import check_token_ids
from interp.weights import ModelWeights

TokensLike = str | Sequence[str] | Tensor
"""A prompt, a batch of prompts (padded to one length), or token ids ``[batch, pos]`` / ``[pos]``."""

NamesFilter = str | Sequence[str] | Callable[[str], bool] | None
"""Which hooks to cache: a name, a list of names, a predicate, or None for all."""


@dataclass(frozen=True, kw_only=True)
class ModelSummary:
    """Shape and provenance of a loaded model.

    Attributes:
        spec: How the model was asked for (``"zoo:organism"``, a path, a hub id).
        architecture: The Hugging Face ``model_type``.
        n_layers, n_heads, n_kv_heads, d_head, d_model, d_mlp, d_vocab, n_ctx: Its shape.
        n_params: Number of parameters.
        device: Where its weights are.
        dtype: Their dtype, as a string.
    """

    spec: str
    architecture: str
    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_head: int
    d_model: int
    d_mlp: int
    d_vocab: int
    n_ctx: int
    n_params: int
    device: str
    dtype: str

    @property
    def n_heads_total(self) -> int:
        """Attention heads in the whole model."""
        return self.n_layers * self.n_heads


_BRIDGES: "weakref.WeakKeyDictionary[torch.nn.Module, Any]" = weakref.WeakKeyDictionary()
"""One bridge per Hugging Face model object: a second boot breaks the first's hooks."""


class HookedModel:
    """A language model with TransformerLens hooks, canonical weights and an nnsight view.

    Build one with :func:`interp.load_model`; the constructor takes an already
    loaded Hugging Face causal language model and its tokenizer.

    Args:
        hf_model: A Hugging Face ``*ForCausalLM``.
        tokenizer: Its tokenizer, loaded from a directory (an in-memory one is
            saved and reloaded by :func:`interp.load_model`).
        spec: How the model was asked for; recorded for reports.
        device: Device to put the model on.
    """

    def __init__(self, hf_model: torch.nn.Module, tokenizer: Any, *, spec: str, device: str = "cpu"):
        from transformer_lens.model_bridge import TransformerBridge

        if hf_model in _BRIDGES:
            raise ValueError(
                f"this Hugging Face model object already has a HookedModel ({spec!r}); "
                "booting a second bridge on it would break the first one's hooks. "
                "Reuse the first HookedModel, or load a fresh copy of the model."
            )
        hf_model.eval()
        self.spec = spec
        self.tokenizer = tokenizer
        self._twin = _parameter_sharing_twin(hf_model)
        has_bos = tokenizer.bos_token_id is not None
        self.bridge = TransformerBridge.boot_transformers(
            f"interp-{hf_model.config.model_type}", hf_model=hf_model, tokenizer=tokenizer, device=device
        )
        self.bridge.enable_compatibility_mode(no_processing=True, disable_warnings=True)
        if not has_bos:
            # The bridge would invent a BOS string the tokenizer does not know.
            self.bridge.cfg.default_prepend_bos = False
        _BRIDGES[hf_model] = self.bridge
        self.hf_model = hf_model

    @property
    def zoo_name(self) -> str | None:
        """The zoo model's name when this is one (spec ``zoo:NAME``), else None."""
        return self.spec.removeprefix("zoo:") if str(self.spec).startswith("zoo:") else None

    # ------------------------------------------------------------------ shape
    @property
    def cfg(self) -> Any:
        """The bridge's TransformerLens config."""
        return self.bridge.cfg

    @property
    def n_layers(self) -> int:
        return self.cfg.n_layers

    @property
    def n_heads(self) -> int:
        return self.cfg.n_heads

    @property
    def n_kv_heads(self) -> int:
        return getattr(self.cfg, "n_key_value_heads", None) or self.cfg.n_heads

    @property
    def d_head(self) -> int:
        return self.cfg.d_head

    @property
    def d_model(self) -> int:
        return self.cfg.d_model

    @property
    def d_vocab(self) -> int:
        return self.cfg.d_vocab

    @property
    def n_ctx(self) -> int:
        return self.cfg.n_ctx

    @property
    def device(self) -> torch.device:
        return next(self.hf_model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.hf_model.parameters()).dtype

    def summary(self) -> ModelSummary:
        """Shape and provenance of the model."""
        w = self.weights
        return ModelSummary(
            spec=self.spec,
            architecture=w.architecture,
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            n_kv_heads=self.n_kv_heads,
            d_head=self.d_head,
            d_model=self.d_model,
            d_mlp=w.d_mlp,
            d_vocab=self.d_vocab,
            n_ctx=self.n_ctx,
            n_params=sum(p.numel() for p in self._twin.parameters()),
            device=str(self.device),
            dtype=str(self.dtype).removeprefix("torch."),
        )

    def __repr__(self) -> str:
        return (
            f"HookedModel({self.spec!r}, n_layers={self.n_layers}, n_heads={self.n_heads}, "
            f"d_model={self.d_model}, d_vocab={self.d_vocab})"
        )

    # ---------------------------------------------------------------- weights
    @cached_property
    def weights(self) -> ModelWeights:
        """Canonical per-head weights (read once; refreshed by :meth:`to`)."""
        return ModelWeights.from_hf(self._twin)

    @property
    def hf(self) -> torch.nn.Module:
        """The Hugging Face model in its own structure, sharing this model's parameters.

        For what the bridge does not offer, such as decoding with the Hugging Face KV cache; the
        object passed to the bridge is rewired by it, so use this one.
        """
        return self._twin

    @property
    def hooks_attached(self) -> bool:
        """Whether any forward hook is attached to the bridge (``bridge.hooks(...)`` is active).

        Code that runs :attr:`hf` instead of the bridge must not then: those hooks would not run.
        """
        return any(point._forward_hooks for point in self.bridge.hook_dict.values())

    @cached_property
    def nnsight(self) -> Any:
        """An nnsight ``TransformersModel`` over the same parameters, with Hugging Face module names."""
        from nnsight.modeling.transformers import TransformersModel

        return TransformersModel(self._twin, tokenizer=self.tokenizer)

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> "HookedModel":
        """Move the model (bridge, weights view and nnsight view) in place; returns self."""
        if device is not None:
            self.bridge.to(device)
        if dtype is not None:
            self.bridge.to(dtype)
        self._twin.to(device=device, dtype=dtype)
        self.__dict__.pop("weights", None)
        self.__dict__.pop("nnsight", None)
        return self

    def check_head(self, layer: int, head: int) -> tuple[int, int]:
        """Return ``(layer, head)`` or raise naming the bad index and the valid range."""
        if not 0 <= layer < self.n_layers:
            raise ValueError(f"layer {layer} is out of range; expected 0 <= layer < {self.n_layers}")
        if not 0 <= head < self.n_heads:
            raise ValueError(f"head {head} is out of range; expected 0 <= head < {self.n_heads}")
        return layer, head

    # ------------------------------------------------------------- tokens
    def to_tokens(
        self, text: str | Sequence[str], prepend_bos: bool | None = None
    ) -> Int[Tensor, "batch pos"]:
        """Tokenize a prompt or a batch of prompts (right-padded), checked against the context length."""
        if isinstance(text, str):
            text = [text]
        if not text or not all(isinstance(t, str) for t in text):
            raise ValueError(f"expected a string or a non-empty list of strings, got {text!r}")
        tokens = self.bridge.to_tokens(list(text), prepend_bos=prepend_bos, truncate=False)
        return self.check_tokens(tokens)

    def to_str_tokens(self, tokens: TokensLike, prepend_bos: bool | None = None) -> list[str]:
        """The tokens of one prompt as strings."""
        if isinstance(tokens, str):
            tokens = self.to_tokens(tokens, prepend_bos=prepend_bos)
        tokens = torch.as_tensor(tokens)
        if tokens.ndim == 2:
            if tokens.shape[0] != 1:
                raise ValueError(f"to_str_tokens takes one prompt; got a batch of {tokens.shape[0]}")
            tokens = tokens[0]
        self.check_tokens(tokens[None])
        return [self.tokenizer.decode([int(t)]) for t in tokens]

    def to_single_token(self, string: str) -> int:
        """The id of ``string``, which must be exactly one token."""
        ids = self.bridge.to_tokens(string, prepend_bos=False, truncate=False)[0].tolist()
        if len(ids) != 1:
            pieces = [self.tokenizer.decode([i]) for i in ids]
            raise ValueError(f"{string!r} is not a single token: the tokenizer splits it into {pieces}")
        return ids[0]

    def to_string(self, tokens: Int[Tensor, "... pos"]) -> str | list[str]:
        """Decode token ids back to text."""
        return self.bridge.to_string(tokens)

    def check_tokens(self, tokens: Tensor) -> Int[Tensor, "batch pos"]:
        """Validate token ids: integers, ``[batch, pos]`` or ``[pos]``, non-empty, in vocabulary and
        context."""
        tokens = check_token_ids(tokens)
        if int(tokens.max()) >= self.d_vocab or int(tokens.min()) < 0:
            bad = int(tokens.max()) if int(tokens.max()) >= self.d_vocab else int(tokens.min())
            raise ValueError(f"token id {bad} is out of the vocabulary; expected 0 <= id < {self.d_vocab}")
        if tokens.shape[1] > self.n_ctx:
            raise ValueError(
                f"prompt of {tokens.shape[1]} tokens is longer than the context; "
                f"expected at most n_ctx={self.n_ctx} tokens"
            )
        return tokens.to(self.device)

    def _input(self, tokens: TokensLike) -> Tensor:
        if isinstance(tokens, Tensor):
            return self.check_tokens(tokens)
        return self.to_tokens(tokens)

    # --------------------------------------------------------------- running
    def run(self, tokens: TokensLike) -> Float[Tensor, "batch pos d_vocab"]:
        """Logits for a prompt, a batch of prompts or token ids."""
        return self.bridge(self._input(tokens))

    def run_with_cache(
        self, tokens: TokensLike, names_filter: NamesFilter = None, **kwargs: Any
    ) -> tuple[Float[Tensor, "batch pos d_vocab"], Any]:
        """Logits and a TransformerLens ``ActivationCache`` of the hooks ``names_filter`` selects."""
        self._check_names(names_filter)
        return self.bridge.run_with_cache(self._input(tokens), names_filter=names_filter, **kwargs)

    def run_with_hooks(
        self,
        tokens: TokensLike,
        fwd_hooks: Sequence[tuple[str | Callable[[str], bool], Callable]] = (),
        bwd_hooks: Sequence[tuple[str | Callable[[str], bool], Callable]] = (),
        **kwargs: Any,
    ) -> Any:
        """Run with TransformerLens-style hooks ``(name, fn(activation, hook))``, removed afterwards."""
        for name, _ in [*fwd_hooks, *bwd_hooks]:
            self._check_names(name)
        return self.bridge.run_with_hooks(
            self._input(tokens), fwd_hooks=list(fwd_hooks), bwd_hooks=list(bwd_hooks), **kwargs
        )

    @property
    def hook_names(self) -> list[str]:
        """Every hook point name, in TransformerLens's naming."""
        return sorted(self.bridge.hook_dict)

    def set_use_attn_result(self, on: bool) -> None:
        """Turn per-head outputs (``blocks.L.attn.hook_result``) on or off."""
        self.bridge.set_use_attn_result(on)

    def _check_names(self, names: NamesFilter) -> None:
        if names is None or callable(names):
            return
        names = [names] if isinstance(names, str) else list(names)
        known = self.bridge.hook_dict
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(
                f"unknown hook name(s) {unknown}; expected TransformerLens names such as "
                f"'blocks.0.attn.hook_pattern' (see HookedModel.hook_names)"
            )


def _parameter_sharing_twin(hf_model: torch.nn.Module) -> torch.nn.Module:
    """A second copy of the module tree holding the very same parameter objects.

    The bridge rewires the model it boots on; the twin keeps the original
    Hugging Face structure for the weight adapters and for nnsight. Moves with
    ``.to`` change parameters in place, so both always see the same weights.
    """
    with torch.device("meta"):
        twin = type(hf_model)(hf_model.config)
    twin.load_state_dict(hf_model.state_dict(keep_vars=True), assign=True, strict=True)
    for name, buffer in hf_model.named_buffers():
        module_name, _, leaf = name.rpartition(".")
        twin.get_submodule(module_name)._buffers[leaf] = buffer
    if hasattr(twin, "tie_weights"):
        twin.tie_weights()
    return twin.eval()
