"""The feed's deltas: a page gets every section once, then only what changed, and only the new
points of the series (the whole series again after it was thinned)."""
from __future__ import annotations

from twin.live.feed import MAX_SERIES, Client, Series, _dominant


def test_a_page_gets_only_what_changed():
    series = Series()
    series.add(1.0, {"wip": 3})
    client = Client()
    snap = {"meta": {"t_h": 1.0}, "counts": {"wip": 3}, "cells": [], "last_event_wall": 0.0}
    first = client.message(snap, series)
    assert first is not None and {"meta", "counts", "cells", "series"} <= set(first)
    assert first["series"]["t_h"] == [1.0] and first["series"]["from"] == 0
    assert client.message(snap, series) is None  # nothing new
    snap2 = {**snap, "meta": {"t_h": 2.0}}
    series.add(2.0, {"wip": 4})
    second = client.message(snap2, series)
    assert second is not None and set(second) == {"meta", "series", "sent_wall", "last_event_wall"}
    assert second["series"]["from"] == 1 and second["series"]["t_h"] == [2.0] and second["series"]["wip"] == [4]


def test_a_thinned_series_is_sent_whole():
    series = Series()
    client = Client()
    series.add(0.0, {"wip": 0})
    client.message({}, series)
    for i in range(1, MAX_SERIES + 1):
        series.add(float(i), {"wip": i})
    assert series.epoch == 1 and len(series.t_h) <= MAX_SERIES // 2 + 1
    msg = client.message({}, series)
    assert msg is not None and msg["series"]["from"] == 0 and msg["series"]["t_h"] == series.t_h


def test_the_state_shown_is_where_most_servers_are_ties_to_the_more_serious():
    assert _dominant((2, 0, 1, 0, 0)) == "busy"
    assert _dominant((1, 1, 0, 0, 0)) == "blocked"
    assert _dominant((0, 0, 1, 1, 0)) == "down"
    assert _dominant((0, 0, 0, 0, 3)) == "off_shift"
