"""A real headless browser for the live view tests: Debian's chromium driven by Playwright's
*async* API inside the test's own `asyncio.run`, so no event loop outlives a test (the sync API
keeps one running in the test process, which breaks every later `asyncio.run`)."""
from __future__ import annotations

import os
import shutil
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]
TIMEOUT_MS = 60_000


def chromium() -> str:
    path = shutil.which(CHROMIUM) or CHROMIUM
    if not Path(path).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (CI does this in .ci/run)")
    return path


@dataclass
class Seen:
    """What went wrong on the page: script errors, requests beyond the twin's server."""

    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


@asynccontextmanager
async def page_at(origin: str) -> AsyncIterator[tuple[Any, Seen]]:
    """A fresh page whose every request outside `origin` is refused and recorded."""
    from playwright.async_api import async_playwright

    seen = Seen()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium(), args=ARGS, timeout=TIMEOUT_MS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(TIMEOUT_MS)
            page = await context.new_page()
            page.on("console", lambda m: seen.errors.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "assert") else None)
            page.on("pageerror", lambda e: seen.errors.append(f"page error: {e}"))

            async def refuse(r: Any) -> None:
                seen.outside.append(r.request.url)
                await r.abort()

            # only requests beyond the twin's server are intercepted (an intercepted event stream
            # would be buffered until it ends)
            await context.route(lambda url: not url.startswith((origin, "data:", "blob:", "about:")), refuse)
            yield page, seen
            await context.close()
        finally:
            await browser.close()


async def text(page: Any, selector: str) -> str:
    return str(await page.locator(selector).first.inner_text())


COUNTS_JS = "Object.fromEntries([...document.querySelectorAll('[id^=count-]')].map(e => [e.id.slice(6), e.textContent]))"


async def counts(page: Any) -> dict[str, str]:
    """The count cards as shown."""
    return dict(await page.evaluate(f"() => {COUNTS_JS}"))


async def until(page: Any, expression: str, arg: Any = None, timeout_s: float = 60.0, poll_s: float = 0.02) -> Any:
    """Poll a JavaScript expression until it is truthy (page.evaluate goes through the DevTools
    protocol; Playwright's wait_for_function would compile the predicate inside the page, which
    the page's Content-Security-Policy forbids)."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        got = await page.evaluate(expression, arg)
        if got:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s} s for {expression}")
        await asyncio.sleep(poll_s)
