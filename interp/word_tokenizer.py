"""Whitespace word-level tokenizers for small vocabularies (the zoo's and the test models').

Example:
    >>> tok = word_level_tokenizer(["<unk>", "<bos>", "<eos>", "<pad>", "cat", "sat"])
    >>> tok("cat sat")["input_ids"]
    [1, 4, 5]
"""

import tempfile
from collections.abc import Sequence
from pathlib import Path

SPECIALS = ("<unk>", "<bos>", "<eos>", "<pad>")
"""The special tokens, ids 0-3 in every word-level vocabulary here."""


def word_level_tokenizer(words: Sequence[str], folder: str | Path | None = None):
    """A tokenizer that splits on whitespace and maps each word of ``words`` to its index.

    ``words`` must start with :data:`SPECIALS`; BOS is prepended. The tokenizer is saved to
    ``folder`` (a temporary one by default) and loaded back, because TransformerLens refuses a
    tokenizer built in memory.

    Raises:
        ValueError: When ``words`` does not start with the special tokens, or repeats a word.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    if tuple(words[: len(SPECIALS)]) != SPECIALS:
        raise ValueError(f"a word vocabulary must start with {list(SPECIALS)}; got {list(words[:4])}")
    if len(set(words)) != len(words):
        raise ValueError("a word vocabulary must not repeat a word")
    core = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", bos_token="<bos>", eos_token="<eos>", pad_token="<pad>"
    )
    folder = Path(folder or tempfile.mkdtemp(prefix="interp-tok-"))
    tok.save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)
