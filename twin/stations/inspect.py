"""Inspection and disposition: accept, rework (back to the press) or reject."""

from __future__ import annotations

from typing import Generator

from twin.stations.process import ProcessStation

ACCEPT, REWORK, REJECT = 0, 1, 2


class InspectStation(ProcessStation):
    """Decides per cell, by fixed probabilities or by the interface-quality model.
    A quarantined cell is never accepted; a rework past the limit becomes a reject."""

    def __init__(self, name, cfg, line):
        super().__init__(name, cfg, line)
        self.mode = line.scenario.quality.mode
        self.max_reworks = line.scenario.quality.disposition.max_reworks
        self._uniform = None
        if cfg.fixed is not None:
            rng = line.streams.generator(f"{name}:quality")
            from twin.distributions import Uniform, sampler

            self._uniform = sampler(Uniform(dist="uniform", low=0.0, high=1.0), rng)
            self._p_accept = cfg.fixed.p_accept
            self._p_rework_cum = cfg.fixed.p_accept + cfg.fixed.p_rework

    def start(self) -> None:
        super().start()
        line = self.line
        self.targets = {ACCEPT: line.node(self.cfg.on_accept), REWORK: line.node(self.cfg.on_rework),
                        REJECT: line.node(self.cfg.on_reject)}

    def decide(self, cell) -> tuple[int, str]:
        if cell.quarantined:
            return REJECT, cell.reason or "quarantine"
        if self.mode == "fixed":
            u = self._uniform()
            if u < self._p_accept:
                decision, reason = ACCEPT, "ok"
            elif u < self._p_rework_cum:
                decision, reason = REWORK, "inspection"
            else:
                decision, reason = REJECT, "inspection"
        else:
            decision, reason = self.line.quality.assess(cell)
        if decision == REWORK and cell.reworks >= self.max_reworks:
            decision, reason = REJECT, "rework_limit"
        return decision, reason

    def after_work(self, cell, t_start: float, t_end: float) -> Generator:
        """Decide, tell the equipment, and send the cell where the decision says."""
        decision, reason = self.decide(cell)
        cell.reason = reason
        if decision == REWORK:
            cell.reworks += 1
        told = self.line.ports.disposition.report(self.name, cell, decision, reason)
        if told is not None:
            yield told
        return self.targets[decision]
