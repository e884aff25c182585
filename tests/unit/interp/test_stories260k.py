"""The real TinyStories Llama through load_model("llama2c:..."): it is a working language model."""

import torch

STORY = (
    "Once upon a time, there was a little girl named Lily. She loved to play with her toys. "
    "One day, she saw a big red ball in the park. She ran to get it and played all day."
)


def test_loss_is_below_one_nat_per_token(stories260k):
    tokens = stories260k.to_tokens(STORY)
    with torch.no_grad():
        logits = stories260k.run(tokens)
    loss = torch.nn.functional.cross_entropy(logits[0, :-1], tokens[0, 1:])
    assert loss.item() < 1.0


def test_greedy_continuation_is_english(stories260k):
    tokens = stories260k.to_tokens("Once upon a time")
    with torch.no_grad():
        for _ in range(20):
            next_token = stories260k.run(tokens)[0, -1].argmax()
            tokens = torch.cat([tokens, next_token.view(1, 1)], dim=1)
    text = stories260k.to_string(tokens[0, 1:])
    assert text.startswith("Once upon a time")
    words = text.replace(",", " ").replace(".", " ").split()
    assert sum(w.isalpha() for w in words) >= 0.9 * len(words)
    assert {"there", "was"} <= {w.lower() for w in words}


def test_weights_forward_equals_bridge(stories260k):
    from interp.weights import forward

    tokens = stories260k.to_tokens(STORY)
    with torch.no_grad():
        diff = (forward(stories260k.weights, tokens) - stories260k.run(tokens)).abs().max()
    assert diff.item() <= 1e-4
