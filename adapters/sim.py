"""In-process ports backed by the plant physics, in simulated time (what `twin run` uses).

The same physics modules serve the OPC UA emulators, so a cell pressed here and a cell
pressed on an emulated press see the same model. Specs come from the resolved scenario
(read once, at validation)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Generator, Sequence

import numpy as np
import simpy

from adapters.ports import AtmosphereExposure, CellLike, PressMeasurement, PressTrace, Ports, SurfaceMeasurement
from adapters.vocabulary import Decision

if TYPE_CHECKING:  # pragma: no cover
    from plant.glovebox import GloveboxAtmosphere
    from plant.metrology import ProfilometerSpec
    from plant.press import PressSpec, Recipe
    from twin.lots import CollectorLot

SECONDS_PER_H = 3600.0
Generators = Callable[[str], np.random.Generator]


class SimPressPort:
    """Runs `plant.press.simulate_cycle` and completes after the cycle's duration."""

    def __init__(self, env: simpy.Environment, specs: dict[str, "PressSpec"], generator: Generators,
                 sample_hz: float, faults: dict[str, dict[str, float]] | None = None,
                 wants_trace: Callable[[str, float], bool] | None = None):
        self.env = env
        self.specs = specs
        self.faults = faults or {}
        # (station, now) -> whether anyone keeps this cycle's trace; None: always build it
        self.wants_trace = wants_trace
        self.generator = generator
        self.sample_hz = sample_hz
        self._rngs: dict[str, np.random.Generator] = {}
        self._runs = 0

    def cycle(self, station: str, recipe: "Recipe", cells: Sequence[CellLike]) -> simpy.Event:
        from plant.press import cycle_summary, simulate_cycle

        rng = self._rngs.get(station)
        if rng is None:
            rng = self._rngs[station] = self.generator(f"{station}:press")
        chances = self.faults.get(station)
        faults = [kind for kind, p in chances.items() if rng.random() < p] if chances else []
        self._runs += 1
        if not faults and self.wants_trace is not None and not self.wants_trace(station, self.env.now):
            fast = cycle_summary(self.specs[station], recipe, len(cells), rng, sample_hz=self.sample_hz)
            if fast is not None:  # the same numbers as simulate_cycle, without building the trace
                meas = PressMeasurement(
                    run_id=f"sim-{station}-{self._runs}", ok=True, status="Completed", duration_s=fast.duration_s,
                    hold_duration_s=fast.hold_duration_s, mean_temperature_c=fast.mean_temperature_c,
                    cell_pressure_mpa=fast.cell_pressure_mpa.tolist(), cell_pressure_cv=fast.cell_pressure_cv.tolist())
                return self.env.timeout(fast.duration_s / SECONDS_PER_H, value=meas)
        res = simulate_cycle(self.specs[station], recipe, len(cells), rng, faults=faults, sample_hz=self.sample_hz)
        meas = PressMeasurement(
            run_id=f"sim-{station}-{self._runs}",
            ok=res.status == "Completed" and not res.faults,
            status=res.status,
            duration_s=res.duration_s,
            hold_duration_s=res.hold_duration_s,
            mean_temperature_c=res.mean_temperature_c,
            cell_pressure_mpa=res.cell_pressure_mpa.tolist(),
            cell_pressure_cv=res.cell_pressure_cv.tolist(),
            faults=list(res.faults),
            trace=PressTrace(res.trace_t_s, res.trace_p_mpa, res.trace_temp_c, res.trace_phase),
        )
        return self.env.timeout(res.duration_s / SECONDS_PER_H, value=meas)


class SimMetrologyPort:
    """Measures each cell's true collector surface with the profilometer's noise and bandwidth."""

    def __init__(self, env: simpy.Environment, specs: dict[str, "ProfilometerSpec"],
                 lots: dict[str, "CollectorLot"], generator: Generators):
        self.env = env
        self.specs = specs
        self.lots = lots
        self.generator = generator
        self._rngs: dict[str, np.random.Generator] = {}

    def measure(self, station: str, cell: CellLike) -> simpy.Event:
        from plant.metrology import measure_one

        rng = self._rngs.get(station)
        if rng is None:
            rng = self._rngs[station] = self.generator(f"{station}:metrology")
        spec = self.specs[station]
        assert cell.true_surface is not None
        surface = measure_one(cell.true_surface, rng, spec, self.lots.get(cell.lot))
        ev = self.env.event()
        ev.succeed(SurfaceMeasurement(**surface, cutoff_um=spec.cutoff_short_um))
        return ev


class SimGloveboxPort:
    """Glovebox atmospheres advanced in simulated time, with antechamber cycles and leaks."""

    def __init__(self, env: simpy.Environment, resources: dict[str, Any], specs: dict[str, Any], generator: Generators):
        from plant.glovebox import GloveboxAtmosphere

        self.env = env
        self.boxes: dict[str, GloveboxAtmosphere] = {}
        for name, spec in specs.items():
            res = resources[name]
            box = GloveboxAtmosphere(spec, generator(f"{name}:atmosphere"))
            self.boxes[name] = box
            rng = generator(f"{name}:atmosphere_events")
            if res.antechamber_cycles_per_h > 0:
                env.process(self._every(box, rng, 1.0 / res.antechamber_cycles_per_h, box.antechamber_cycle))
            if res.leak_mtbf_h is not None:
                env.process(self._every(box, rng, res.leak_mtbf_h, box.inject_leak))

    def _every(self, box: "GloveboxAtmosphere", rng: np.random.Generator, mean_h: float,
               action: Callable[[], Any]) -> Generator[simpy.Event, Any, None]:
        while True:
            yield self.env.timeout(rng.exponential(mean_h))
            box.advance(self.env.now * SECONDS_PER_H - box.t_s)
            action()

    def exposure(self, resource: str, t_start_h: float, t_end_h: float) -> simpy.Event | None:
        box = self.boxes.get(resource)
        if box is None:
            return None
        ev = self.env.event()
        t0, t1 = t_start_h * SECONDS_PER_H, t_end_h * SECONDS_PER_H
        box.advance(t1 - box.t_s)  # no reading: the sensor noise is never used here
        worst = box.max_between(t0, t1)
        excursion = box.any_excursion_between(t0, t1)
        return ev.succeed(AtmosphereExposure(worst["o2_ppm"], worst["h2o_ppm"], excursion))


class SimDispositionPort:
    """In simulation the decision only goes to the record; nothing to tell."""

    def report(self, station: str, cell: CellLike, decision: Decision, reason: str) -> None:
        return None


def sim_ports(env: simpy.Environment, scenario: Any, generator: Generators,
              wants_trace: Callable[[str, float], bool] | None = None) -> Ports:
    """The in-process ports for a resolved scenario; `generator(name)` gives a named stream;
    `wants_trace(station, now)` says whether a press cycle starting now needs its trace."""
    resolved = scenario.resolved
    faults = {n: scenario.stations[n].press.fault_probabilities for n in resolved.presses}
    return Ports(
        press=SimPressPort(env, resolved.presses, generator, scenario.run.press_sample_hz, faults, wants_trace),
        metrology=SimMetrologyPort(env, resolved.instruments, resolved.lots, generator),
        glovebox=SimGloveboxPort(env, scenario.resources, resolved.gloveboxes, generator),
        disposition=SimDispositionPort(),
    )
