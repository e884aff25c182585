"""Tiny random models saved as real checkpoints, for tests and examples that need no network.

``save_tiny_checkpoint(arch, folder)`` writes a small randomly initialised
Hugging Face model and a word-level tokenizer (``<unk> <bos> <eos> <pad> t4 ... t{V-1}``) with
``save_pretrained``, so that loading goes through exactly the code path a hub
or local checkpoint takes. ``piece_tokenizer(pieces)`` builds a SentencePiece-like
tokenizer (word-start marker ``▁``, pieces with or without it) and
``tiny_model_with(tokenizer)`` a tiny random GPT-2 over any tokenizer's vocabulary, for
prompts that must be built from what a tokenizer can express.

Example:
    >>> model = tiny_model("neox")
    >>> model.summary().architecture
    'gpt_neox'
"""

import tempfile
from pathlib import Path
from typing import Literal

import torch

TinyArch = Literal["gpt2", "neox", "llama"]
"""``gpt2``: GPT-2. ``neox``: GPT-NeoX with partial rotary and parallel residual.
``llama``: Llama with grouped-query attention (4 query heads, 2 key/value heads)."""

TINY_VOCAB = 64


def word_tokenizer(vocab_size: int = TINY_VOCAB, folder: str | Path | None = None):
    """A whitespace word-level tokenizer, saved and reloaded.

    Ids 0-3 are ``<unk> <bos> <eos> <pad>``; ids 4 and up are the words ``t4``,
    ``t5``, ... so that word ``tN`` has id N. BOS is prepended. (Special tokens
    must not be prefixes of words: the tokenizer matches them inside words.)
    """
    from interp.word_tokenizer import SPECIALS, word_level_tokenizer

    return word_level_tokenizer([*SPECIALS, *(f"t{i}" for i in range(4, vocab_size))], folder)


WORD_START = "\u2581"
"""SentencePiece's word-start marker ``▁``, which stands for the space before a word."""


def piece_tokenizer(pieces: list[str], folder: str | Path | None = None):
    """A SentencePiece-like tokenizer over ``pieces``, saved and reloaded.

    Ids 0-3 are ``<unk> <s> </s> ▁``; ``pieces`` follow in order. A piece that starts with
    :data:`WORD_START` begins a word (``"▁Monday"`` is ``" Monday"``), others continue one
    (``"3"``). As in SentencePiece (a Unigram model, ``▁`` put before the text), text on its own
    starts with ``▁``, so ``"3"`` alone becomes ``▁ 3`` and only running text such as ``"+3"``
    shows the bare piece. Text no piece spells is ``<unk>``. BOS is prepended.

    Example:
        >>> tok = piece_tokenizer(["3", "+", "\u2581Monday"])
        >>> tok.convert_ids_to_tokens(tok("3+3 Monday")["input_ids"])
        ['<s>', '▁', '3', '+', '3', '▁Monday']
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", WORD_START]
    if len(set(pieces)) != len(pieces) or set(pieces) & set(specials):
        raise ValueError(f"pieces must be distinct and none of {specials}; got {pieces}")
    scores = [(p, 0.0) for p in specials[:3]] + [(WORD_START, -2.0)] + [(p, -1.0) for p in pieces]
    core = Tokenizer(models.Unigram(scores, unk_id=0))
    core.pre_tokenizer = pre_tokenizers.Metaspace(replacement=WORD_START, prepend_scheme="first")
    core.decoder = decoders.Metaspace(replacement=WORD_START, prepend_scheme="first")
    core.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    folder = Path(folder or tempfile.mkdtemp(prefix="interp-pieces-"))
    tok.save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


def tiny_model_with(tokenizer, n_ctx: int = 64, seed: int = 0):
    """A tiny random GPT-2 :class:`~interp.HookedModel` (one layer of two heads) over ``tokenizer``."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from interp.loading import load_model

    torch.manual_seed(seed)
    config = GPT2Config(
        n_layer=1,
        n_head=2,
        n_embd=16,
        n_positions=n_ctx,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return load_model(GPT2LMHeadModel(config).eval(), tokenizer=tokenizer, device="cpu")


def tiny_hf_model(arch: TinyArch, seed: int = 0, n_ctx: int = 32) -> torch.nn.Module:
    """A tiny random Hugging Face causal LM; norms and biases are randomised too."""
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        GPTNeoXConfig,
        GPTNeoXForCausalLM,
        LlamaConfig,
        LlamaForCausalLM,
    )

    common = {"vocab_size": TINY_VOCAB, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 3}
    torch.manual_seed(seed)
    if arch == "gpt2":
        cfg = GPT2Config(n_positions=n_ctx, n_embd=32, n_layer=2, n_head=4, **common)
        model = GPT2LMHeadModel(cfg)
    elif arch == "neox":
        cfg = GPTNeoXConfig(
            max_position_embeddings=n_ctx,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            rotary_pct=0.5,
            tie_word_embeddings=False,
            **common,
        )
        model = GPTNeoXForCausalLM(cfg)
    elif arch == "llama":
        cfg = LlamaConfig(
            max_position_embeddings=n_ctx,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=48,
            tie_word_embeddings=False,
            **common,
        )
        model = LlamaForCausalLM(cfg)
    else:
        raise ValueError(f"unknown tiny architecture {arch!r}; expected 'gpt2', 'neox' or 'llama'")
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim == 1:
                param.add_(0.1 * torch.randn_like(param))
    return model.eval()


def save_tiny_checkpoint(arch: TinyArch, folder: str | Path, seed: int = 0) -> Path:
    """Save a tiny random model and its tokenizer to ``folder``; returns the folder."""
    folder = Path(folder)
    tiny_hf_model(arch, seed=seed).save_pretrained(folder)
    word_tokenizer(folder=folder)
    return folder


def tiny_model(arch: TinyArch = "gpt2", seed: int = 0):
    """A tiny random :class:`~interp.HookedModel`, loaded from a checkpoint in a temporary folder."""
    from interp.loading import load_model

    return load_model(save_tiny_checkpoint(arch, tempfile.mkdtemp(prefix="interp-tiny-"), seed), device="cpu")
