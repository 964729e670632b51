"""Bounded retention of a device's finished results and job records.

A result is *collected* once the twin has it: an operator session read its ``Status`` node
(the twin reads Status, then the result's values, before it trusts a cycle) or a disposition
has been set for every sample of it. Only collected results are ever dropped: the oldest
first, beyond ``retention.max_results`` per device or older than ``retention.max_age_s``
(wall seconds after the run ended). Uncollected results are never dropped; when
``max_uncollected`` of them pile up, StartProgram is refused with BadResourceUnavailable
until the twin collects them (back-pressure instead of unbounded memory).
Job records (SupervisoryJobId -> RunId, for StartProgram's idempotency) outlive their results
(a repeated StartProgram still returns the old RunId) and are trimmed oldest first beyond
``max_job_records``.
"""
from __future__ import annotations

from typing import Any

from asyncua import ua

from plant.devices import Device, ProgramError, RunResult
from plant.plantfile import RetentionConfig


class Retention:
    """Which results of one device are collected, and which may go."""

    def __init__(self, cfg: RetentionConfig) -> None:
        self.cfg = cfg
        self.collected: set[str] = set()
        self._status_nodes: dict[ua.NodeId, str] = {}
        self.dropped = 0

    def track(self, run_id: str, status_node: ua.NodeId) -> None:
        """Watch reads of the result's Status node."""
        self._status_nodes[status_node] = run_id

    def on_read(self, caller: Any, nodes: list[ua.ReadValueId], results: list[ua.DataValue]) -> None:
        """``Guard.read_hooks`` entry: an operator read a result's Status -> collected."""
        if not self._status_nodes or not caller.may("operator"):
            return
        for rv, dv in zip(nodes, results):
            rid = self._status_nodes.get(rv.NodeId)
            if rid is not None and rv.AttributeId == ua.AttributeIds.Value and (
                    dv.StatusCode is None or dv.StatusCode.is_good()):
                self.collected.add(rid)

    def disposed(self, res: RunResult) -> None:
        """A disposition was set; every sample decided -> collected."""
        if all(s in res.dispositions for s in res.samples):
            self.collected.add(res.run_id)

    def check_capacity(self, device: Device, job_id: str) -> None:
        """ProgramError(BadResourceUnavailable) if too many results wait to be collected."""
        if job_id in device.runs_by_job:
            return
        waiting = sum(1 for rid in device.results if rid not in self.collected)
        if waiting >= self.cfg.max_uncollected:
            raise ProgramError("BadResourceUnavailable",
                               f"{waiting} results not yet collected (retention.max_uncollected)")

    def due(self, device: Device, now: float) -> list[str]:
        """Collected results to drop now, oldest first."""
        done = [rid for rid in device.results if rid in self.collected]  # dict order: oldest first
        excess = max(0, len(device.results) - self.cfg.max_results)
        drop = done[:excess]
        if self.cfg.max_age_s is not None:
            old = {rid for rid in done if now - device.results[rid].ended_s > self.cfg.max_age_s}
            drop += [rid for rid in done[excess:] if rid in old]
        return drop

    def forget(self, device: Device, run_ids: list[str]) -> None:
        """Drop the results from the device model; trim job records."""
        for rid in run_ids:
            device.results.pop(rid, None)
            self.collected.discard(rid)
        self._status_nodes = {n: r for n, r in self._status_nodes.items() if r in device.results}
        self.dropped += len(run_ids)
        extra = len(device.runs_by_job) - self.cfg.max_job_records
        if extra > 0:
            for job in list(device.runs_by_job)[:extra]:
                del device.runs_by_job[job]
