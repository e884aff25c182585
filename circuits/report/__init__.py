"""Self-contained HTML reports of head finding, ablation and patching results."""

from circuits.report.html import Report as Report
from circuits.report.html import attention_figure as attention_figure
from circuits.report.html import provenance as provenance
