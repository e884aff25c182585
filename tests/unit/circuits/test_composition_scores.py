"""Q-, K- and V-composition scores equal TransformerLens's, raw and with the norm folded in."""

import pytest
import torch

from circuits.composition_scores import composition_scores
from interp.testing import tiny_hf_model, tiny_model, word_tokenizer

FP32_NOISE_TOL = 1e-5
"""Two float32 routes to the same number."""

ARCHS = ["gpt2", "neox", "llama"]


@pytest.fixture(scope="module", params=ARCHS)
def model(request):
    return tiny_model(request.param)


def test_composition_scores_equal_transformer_lens(model):
    ours = composition_scores(model)
    for i, mode in enumerate(ours.modes):
        reference = model.bridge.all_composition_scores(mode).scores.detach()
        assert torch.allclose(ours.scores[i], reference, atol=FP32_NOISE_TOL)
    df = ours.df
    assert (df["sender_layer"] < df["receiver_layer"]).all()
    assert len(df) == 3 * model.n_heads**2  # 2 layers: one layer pair per mode
    assert ours.plot("Q").data and ours.top(2, "K")["score"].is_monotonic_decreasing


@pytest.mark.parametrize("arch", ARCHS)
def test_folded_scores_equal_transformer_lens_with_weight_processing(arch, tmp_path):
    """``fold_norm=True`` is TL's fold_ln + center_writing_weights; the raw scores differ from it."""
    from transformer_lens.model_bridge import TransformerBridge

    bridge = TransformerBridge.boot_transformers(
        f"ref-{arch}", hf_model=tiny_hf_model(arch), tokenizer=word_tokenizer(folder=tmp_path), device="cpu"
    )
    bridge.enable_compatibility_mode(disable_warnings=True)
    model = tiny_model(arch)
    folded, raw = composition_scores(model, fold_norm=True), composition_scores(model)
    for i, mode in enumerate(folded.modes):
        reference = bridge.all_composition_scores(mode).scores.detach()
        assert torch.allclose(folded.scores[i], reference, atol=FP32_NOISE_TOL)
        assert (raw.scores[i] - reference).abs().max() > 1e-3
