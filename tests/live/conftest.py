"""Live view tests: a real headless chromium (tests/live/browser.py) against the twin's own server.

Every test here must leave no asyncio event loop running in the test process: later tests
(`asyncio.run` in the clock, HIL and report tests) depend on it; `no_loop_left` checks it."""
from __future__ import annotations

import asyncio
import threading

import pytest

from tests.hil.conftest import operator_env, shared_dir, wip_plant  # noqa: F401  (the HIL plant fixtures)


@pytest.fixture(autouse=True)
def no_loop_left():
    threads = set(threading.enumerate())
    yield
    assert asyncio._get_running_loop() is None, "a test left an asyncio event loop running in this thread"
    left = [t for t in threading.enumerate() if t not in threads and t.is_alive() and not t.daemon]
    assert not left, f"threads left running: {left}"
