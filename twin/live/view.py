"""The page and its assets, all served by the twin itself (no network at view time).

plotly.js is taken from the installed plotly package at run time (not copied into this
repository): the same file the HTML report embeds."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

ASSETS = {
    "live.js": "text/javascript; charset=utf-8",
    "live.css": "text/css; charset=utf-8",
    "plotly.min.js": "text/javascript; charset=utf-8",
}


class AssetMissing(RuntimeError):
    """An asset the page needs is not installed (plotly: install the `live` extra)."""


@lru_cache(maxsize=None)
def asset(name: str) -> bytes:
    """The bytes of one asset (KeyError for a name the page does not use)."""
    if name not in ASSETS:
        raise KeyError(name)
    if name == "plotly.min.js":
        try:
            return resources.files("plotly").joinpath("package_data").joinpath("plotly.min.js").read_bytes()
        except (ModuleNotFoundError, FileNotFoundError) as exc:
            raise AssetMissing("plotly.js is not installed: pip install 'anodeless-twin[live]'") from exc
    return resources.files("twin.live").joinpath("assets").joinpath(name).read_bytes()


def page(mode: str, title: str) -> str:
    """The one HTML page (live or replay), asking for its assets by relative URL."""
    from html import escape

    template = resources.files("twin.live").joinpath("assets").joinpath("index.html").read_text(encoding="utf-8")
    return template.replace("{{mode}}", escape(mode)).replace("{{title}}", escape(title))
