"""One self-contained HTML page: plotly.js inlined once in the head, every figure as a div, the
tables as HTML. Opening it needs no network; it is written atomically (temp file, then rename)."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.report.plotting import Figure

PLOT_CONFIG: dict[str, Any] = {"displaylogo": False, "responsive": True, "scrollZoom": False}
IMAGE_BUTTON: dict[str, Any] = {"format": "png", "scale": 2}
CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table.kpi{border-collapse:collapse;font-size:.9em;margin:.5em 0}
table.kpi td,table.kpi th{border:1px solid #ccc;padding:3px 8px;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.pass{color:#2a7d2a;font-weight:bold}td.fail{color:#c00;font-weight:bold}
.wide{overflow-x:auto}figure{margin:1.5em 0}figcaption{font-weight:bold;margin-bottom:.3em}
p.note{color:#555;background:#f6f6f6;border-left:3px solid #bbb;padding:.4em .8em;margin:.3em 0}
p.failed{color:#900;background:#fff0f0;border-left:3px solid #c00;padding:.4em .8em}
.small{font-size:.85em;color:#555}nav a{margin-right:1em}"""


@dataclass
class Section:
    heading: str
    html: str = ""
    figures: list[Figure] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return "sec-" + "".join(ch if ch.isalnum() else "-" for ch in self.heading.lower())


def figure_html(fig: Figure) -> str:
    import plotly.io as pio

    parts = [f'<figure id="fig-{html.escape(fig.name)}" data-plotted="{int(fig.plot is not None)}">',
             f"<figcaption>{html.escape(fig.title)}</figcaption>"]
    if fig.plot is not None:
        config = {**PLOT_CONFIG, "toImageButtonOptions": {**IMAGE_BUTTON, "filename": fig.name}}
        parts.append(pio.to_html(fig.plot, full_html=False, include_plotlyjs=False, div_id=f"plot-{fig.name}",
                                 config=config))
    if fig.note:
        parts.append(f'<p class="{"failed" if fig.failed else "note"}">{html.escape(fig.note)}</p>')
    parts.append("</figure>")
    return "".join(parts)


def render(title: str, intro: str, sections: list[Section]) -> str:
    from plotly.offline import get_plotlyjs

    nav = "".join(f'<a href="#{s.anchor}">{html.escape(s.heading)}</a>' for s in sections)
    body = "".join(f'<h2 id="{s.anchor}">{html.escape(s.heading)}</h2>{s.html}'
                   + "".join(figure_html(f) for f in s.figures) for s in sections)
    return (f"<!DOCTYPE html><html lang=en><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style><script type='text/javascript'>{get_plotlyjs()}</script></head>"
            f"<body><h1>{html.escape(title)}</h1>{intro}<nav>{nav}</nav>{body}</body></html>")


def write_atomic(path: Path, text: str) -> None:
    """Write the page next to its final name, then rename it into place (never a half-written report)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
