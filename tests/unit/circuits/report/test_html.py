"""The HTML report: self-contained, tables and figures in order, bad items named."""

import pandas as pd
import plotly.graph_objects as go
import pytest
import torch

from circuits.report import Report, attention_figure, provenance
from interp.testing import tiny_model


def test_page_is_self_contained_with_plotly_inlined_once(tmp_path):
    report = Report("A test")
    report.add_figure("Scores", go.Figure(go.Bar(x=["a"], y=[1])), caption="one bar")
    report.add_figure("Scores", go.Figure(go.Bar(x=["b"], y=[2])))
    report.add_table("Table", pd.DataFrame({"head": ["L0H1"], "score": [0.12345]}))
    page = report.write(tmp_path / "r.html").read_text()
    from plotly.offline import get_plotlyjs

    assert (
        page.count(get_plotlyjs()[:500]) == 1 and "<script src" not in page
    )  # inlined once, nothing external
    assert "data-figures='2'" in page and page.count("<h2>") == 2
    assert "0.123" in page and "0.12345" not in page
    assert page.index("<h2>Scores") < page.index("<h2>Table")


def test_provenance_records_model_versions_and_seed():
    df = provenance(tiny_model("gpt2"), seed=7, runtime_s=1.234)
    fields = dict(zip(df["field"], df["value"], strict=True))
    assert fields["seed"] == "7" and fields["runtime (s)"] == "1.23"
    assert fields["layers x heads"] == "2 x 4" and fields["torch"] != "not installed"


def test_attention_figure_labels_tokens():
    fig = attention_figure(torch.eye(3), ["<bos>", "a", "b"], "L0H0")
    assert list(fig.data[0].x) == ["0:<bos>", "1:a", "2:b"]


def test_wrong_items_are_named():
    report = Report("x")
    with pytest.raises(ValueError, match="expected a plotly figure for 'f', got list"):
        report.add_figure("f", [1, 2])
    with pytest.raises((ValueError, TypeError), match="table"):  # a runtime type checker may see it first
        report.add_table("t", {"a": 1})
