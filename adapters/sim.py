"""In-process ports backed by the plant physics, in simulated time (what `twin run` uses).

The same physics modules serve the OPC UA emulators, so a cell pressed here and a cell
pressed on an emulated press see the same model."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import simpy

from adapters.ports import PressMeasurement, Ports

SECONDS_PER_H = 3600.0


class SimPressPort:
    """Runs `plant.press.simulate_cycle` and completes after the cycle's duration."""

    def __init__(self, env: simpy.Environment, specs: dict, streams, sample_hz: float, faults: dict | None = None):
        self.env = env
        self.specs = specs
        self.faults = faults or {}
        self.streams = streams
        self.sample_hz = sample_hz
        self._rngs: dict[str, np.random.Generator] = {}
        self._runs = 0

    def cycle(self, station: str, recipe, cells: Sequence) -> simpy.Event:
        from plant.press import simulate_cycle

        rng = self._rngs.get(station)
        if rng is None:
            rng = self._rngs[station] = self.streams.generator(f"{station}:press")
        chances = self.faults.get(station)
        faults = [kind for kind, p in chances.items() if rng.random() < p] if chances else ()
        res = simulate_cycle(self.specs[station], recipe, len(cells), rng, faults=faults, sample_hz=self.sample_hz)
        self._runs += 1
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
        )
        return self.env.timeout(res.duration_s / SECONDS_PER_H, value=meas)


class SimMetrologyPort:
    """Measures each cell's true collector surface with the profilometer's noise."""

    def __init__(self, env: simpy.Environment, specs: dict, streams):
        self.env = env
        self.specs = specs
        self.streams = streams
        self._rngs: dict[str, np.random.Generator] = {}

    def measure(self, station: str, cell) -> simpy.Event:
        from plant.metrology import measure

        rng = self._rngs.get(station)
        if rng is None:
            rng = self._rngs[station] = self.streams.generator(f"{station}:metrology")
        surface = measure(cell.true_surface, rng, self.specs[station])
        ev = self.env.event()
        ev.succeed({k: float(v) for k, v in surface.items()})
        return ev


class SimGloveboxPort:
    """Glovebox atmospheres advanced in simulated time, with antechamber cycles and leaks."""

    def __init__(self, env: simpy.Environment, resources: dict, streams):
        from plant.glovebox import GloveboxAtmosphere, load_glovebox_spec

        self.env = env
        self.boxes = {}
        for name, res in resources.items():
            if res.atmosphere is None:
                continue
            box = GloveboxAtmosphere(load_glovebox_spec(res.atmosphere), streams.generator(f"{name}:atmosphere"))
            self.boxes[name] = box
            rng = streams.generator(f"{name}:atmosphere_events")
            if res.antechamber_cycles_per_h > 0:
                env.process(self._every(box, rng, 1.0 / res.antechamber_cycles_per_h, box.antechamber_cycle))
            if res.leak_mtbf_h is not None:
                env.process(self._every(box, rng, res.leak_mtbf_h, box.inject_leak))

    def _every(self, box, rng: np.random.Generator, mean_h: float, action):
        while True:
            yield self.env.timeout(rng.exponential(mean_h))
            box.step(self.env.now * SECONDS_PER_H - box.t_s)
            action()

    def exposure(self, resource: str, t_start_h: float, t_end_h: float) -> simpy.Event | None:
        box = self.boxes.get(resource)
        if box is None:
            return None
        ev = self.env.event()
        t0, t1 = t_start_h * SECONDS_PER_H, t_end_h * SECONDS_PER_H
        box.step(t1 - box.t_s)
        worst = box.max_between(t0, t1)
        excursion = bool(box.excursions_between(t0, t1))
        return ev.succeed({"o2_ppm_max": worst["o2_ppm"], "h2o_ppm_max": worst["h2o_ppm"], "excursion": excursion})


class SimDispositionPort:
    """In simulation the decision only goes to the record; nothing to tell."""

    def __init__(self, env: simpy.Environment):
        self.env = env

    def report(self, station: str, cell, decision: int, reason: str) -> None:
        return None


def sim_ports(env: simpy.Environment, scenario, streams) -> Ports:
    """The in-process ports for a scenario."""
    from plant.press import load_press_spec

    from twin.scenario import BatchStation, MetrologyStation

    press_specs = {n: load_press_spec(st.press.spec) for n, st in scenario.stations.items()
                   if isinstance(st, BatchStation) and st.press is not None}
    metrology_specs = {}
    for n, st in scenario.stations.items():
        if isinstance(st, MetrologyStation):
            from plant.metrology import load_profilometer_spec

            metrology_specs[n] = load_profilometer_spec(st.instrument)
    return Ports(
        press=SimPressPort(env, press_specs, streams, scenario.run.press_sample_hz, {
            n: scenario.stations[n].press.fault_probabilities for n in press_specs
        }),
        metrology=SimMetrologyPort(env, metrology_specs, streams),
        glovebox=SimGloveboxPort(env, scenario.resources, streams),
        disposition=SimDispositionPort(env),
    )
