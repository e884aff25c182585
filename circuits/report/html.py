"""One self-contained HTML file: plotly embedded, no network needed to view it.

A :class:`Report` is a list of sections (a heading, an optional caption, and
figures or tables). It renders results that methods already computed; it
never computes anything itself.

Example:
    >>> import pandas as pd
    >>> report = Report("Heads of a tiny model")
    >>> _ = report.add_table("Top heads", pd.DataFrame({"head": ["L1H2"], "score": [0.9]}))
    >>> html = report.render()
    >>> "<table" in html and "L1H2" in html
    True
"""

import datetime as dt
import html
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
from jaxtyping import Float
from torch import Tensor

from interp.files import atomic_write

PACKAGES = ("interp-toolkit", "torch", "transformer_lens", "transformers", "nnsight", "plotly", "pandas")

STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1b1f24; line-height: 1.45; }
h1 { font-size: 1.7rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 0.6rem 0; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f4f6f8; } td:first-child, th:first-child { text-align: left; }
.table-scroll { max-width: 100%; overflow-x: auto; }
.caption { color: #57606a; font-size: 0.92rem; } .figure { margin: 0.8rem 0; }
"""


def provenance(
    model: Any, *, seed: int | None = None, runtime_s: float | None = None, **extra: Any
) -> pd.DataFrame:
    """Where a result came from: the model spec and shape, package versions, seed, runtime, date."""
    rows: dict[str, Any] = {}
    if model is not None:
        summary = model.summary()
        rows |= {
            "model": summary.spec,
            "architecture": summary.architecture,
            "layers x heads": f"{summary.n_layers} x {summary.n_heads}",
            "d_model": summary.d_model,
            "parameters": summary.n_params,
            "device / dtype": f"{summary.device} / {summary.dtype}",
        }
    rows |= {"seed": seed, "runtime (s)": None if runtime_s is None else round(runtime_s, 2)}
    rows |= extra
    for package in PACKAGES:
        try:
            rows[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            rows[package] = "not installed"
    rows["python"] = platform.python_version()
    rows["created"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return pd.DataFrame({"field": list(rows), "value": [str(v) for v in rows.values()]})


def attention_figure(pattern: Float[Tensor, "query_pos key_pos"], str_tokens: list[str], title: str):
    """A heatmap of one head's attention on one prompt, tokens on both axes."""
    import plotly.graph_objects as go

    labels = [f"{i}:{t}" for i, t in enumerate(str_tokens)]
    fig = go.Figure(
        go.Heatmap(
            z=pattern.detach().float().cpu().numpy(),
            x=labels,
            y=labels,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"title": "attention"},
            hovertemplate="query %{y}<br>key %{x}<br>attention %{z:.3f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title, width=520, height=480, xaxis_title="key", yaxis_title="query")
    return fig


@dataclass
class Section:
    """One part of a report: a heading, an optional caption, and figures or tables in order."""

    title: str
    caption: str = ""
    items: list[tuple[str, Any]] = field(default_factory=list)


class Report:
    """A self-contained HTML report built from result figures and tables.

    Args:
        title: The page title.
    """

    def __init__(self, title: str):
        self.title = title
        self.sections: list[Section] = []

    def section(self, title: str, caption: str = "") -> Section:
        """Start a new section; later ``add_*`` calls with the same title append to it."""
        for existing in self.sections:
            if existing.title == title:
                return existing
        new = Section(title, caption)
        self.sections.append(new)
        return new

    def add_figure(self, title: str, figure: Any, caption: str = "") -> "Report":
        """Add a plotly figure under section ``title``."""
        if not hasattr(figure, "to_html"):
            raise ValueError(f"expected a plotly figure for {title!r}, got {type(figure).__name__}")
        self.section(title, caption).items.append(("figure", figure))
        return self

    def add_table(
        self, title: str, table: pd.DataFrame, caption: str = "", float_format: str = "{:.3f}"
    ) -> "Report":
        """Add a DataFrame under section ``title``."""
        if not isinstance(table, pd.DataFrame):
            raise ValueError(f"expected a DataFrame for {title!r}, got {type(table).__name__}")
        formatted = table.copy()
        for column in formatted.columns:
            if pd.api.types.is_float_dtype(formatted[column]):
                formatted[column] = formatted[column].map(
                    lambda v: float_format.format(v) if pd.notna(v) else ""
                )
        self.section(title, caption).items.append(("table", formatted))
        return self

    def render(self) -> str:
        """The whole page as one HTML string, with plotly's JavaScript inlined once."""
        from plotly.offline import get_plotlyjs

        parts = [f"<h1>{html.escape(self.title)}</h1>"]
        n_figures = 0
        for section in self.sections:
            parts.append(f"<h2>{html.escape(section.title)}</h2>")
            if section.caption:
                parts.append(f'<p class="caption">{html.escape(section.caption)}</p>')
            for kind, item in section.items:
                if kind == "table":
                    table = item.to_html(index=False, border=0, escape=True)
                    parts.append(f'<div class="table-scroll">{table}</div>')
                else:
                    n_figures += 1
                    div = item.to_html(full_html=False, include_plotlyjs=False, div_id=f"figure-{n_figures}")
                    parts.append(f'<div class="figure">{div}</div>')
        script = f"<script>{get_plotlyjs()}</script>" if n_figures else ""
        return (
            "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title><style>{STYLE}</style>{script}</head>"
            f"<body data-figures='{n_figures}'>{''.join(parts)}</body></html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the page to ``path`` atomically (folders created); returns the path."""
        return atomic_write(path, self.render())
