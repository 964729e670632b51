"""Glovebox and profilometer devices (asyncua-free), on the same Device base as the presses.

Glovebox: the atmosphere model advances continuously in simulated time; program
``AntechamberTransfer`` cycles the antechamber (a spike) to bring ``Samples`` in and reports
the worst O2/H2O seen during the transfer. Faults: ``leak`` (acts at once), ``antechamber``
(an extra spike at once), ``comm_loss`` (not available for a while). Excursions above the limits
appear in Faults/Active (``excursion:o2_ppm``), MachineryItemState (``OutOfService`` while one
is open) and the Excursions JSON.

Profilometer: program ``MeasureCollector`` measures each sample in turn; true surfaces come
from the property ``true_surfaces`` (JSON ``{sample_id: {sq_um, sdq, pv_um, waviness_um,
waviness_mm}}``) or
are drawn from the device's collector lot, reproducibly per sample id.
"""
from __future__ import annotations

import json
import zlib

import numpy as np

from typing import Any

from adapters.vocabulary import TRUE_SURFACES_KEY, Function, ResultVar
from plant.devices import Device, ProgramError, Reading, Run, RunResult, json_floats
from plant.glovebox import GloveboxAtmosphere, GloveboxSpec, load_glovebox_spec
from plant.metrology import (MEASURE_KEYS, CollectorLot, ProfilometerSpec, load_collector_lot,
                             load_profilometer_spec, measure, measure_duration_s, sample_lot)
from plant.plantfile import DeviceConfig, PlantFile

MEASURE_FUNCTIONS = {"sq_um": Function.SQ.value, "sdq": Function.SDQ.value, "pv_um": Function.PV.value,
                     "waviness_um": Function.WAVINESS.value, "waviness_mm": Function.WAVINESS_WAVELENGTH.value}
MEASURE_RESULTS = {"sq_um": ResultVar.SQ.value, "sdq": ResultVar.SDQ.value, "pv_um": ResultVar.PV.value,
                   "waviness_um": ResultVar.WAVINESS.value, "waviness_mm": ResultVar.WAVINESS_WAVELENGTH.value}


class GloveboxDevice(Device):
    """Argon glovebox with purifier; atmosphere published continuously."""

    templates = ("AntechamberTransfer",)
    fault_kinds = ("leak", "antechamber", "comm_loss")

    def __init__(self, cfg: DeviceConfig, plant: PlantFile, start_wall: float) -> None:
        super().__init__(cfg, plant, start_wall)
        self.spec: GloveboxSpec = load_glovebox_spec(cfg.spec or "glovebox")
        self.capacity = self.spec.capacity_cells
        self.atm = GloveboxAtmosphere(self.spec, np.random.default_rng(self.seed + 1))
        self.excursions_changed = True

    def identification(self) -> dict[str, str]:
        """Manufacturer, model, serial number, device class."""
        return {"Manufacturer": self.spec.manufacturer, "Model": self.spec.model,
                "SerialNumber": self.cfg.serial_number or f"{self.spec.serial_prefix}-{self.seed % 100000:05d}",
                "DeviceClass": "Glovebox"}

    def inject_fault(self, kind: str, now: float) -> None:
        """Leak and antechamber spikes act on the atmosphere at once."""
        if kind not in self.fault_kinds:
            raise ProgramError("BadInvalidArgument", f"unknown fault {kind!r}; known {self.fault_kinds}")
        self._advance(now)
        if kind == "leak":
            self.atm.inject_leak()
        elif kind == "antechamber":
            self.atm.antechamber_cycle()
        elif self.offline_until is None:
            self.offline_until = now + self.offline_s
        if kind not in self.active_faults:
            self.active_faults.append(kind)

    def faults_visible(self) -> list[str]:
        """Injected faults still acting, plus open excursions."""
        acts = [f for f in self.active_faults
                if (f == "leak" and self.atm.leak_active()) or f == "comm_loss" and self.offline_until]
        return acts + [f"excursion:{e.species}" for e in self.atm.active_excursions()]

    def out_of_service(self) -> bool:
        """An open excursion takes the glovebox out of service (MachineryItemState)."""
        return bool(self.atm.active_excursions())

    def excursions_json(self) -> str:
        """Every recorded excursion, with simulated and wall times."""
        out = []
        for e in self.atm.excursions:
            d = e.as_dict()
            d["start_wall"] = self.start_wall + e.start_s / self.time_scale
            d["end_wall"] = None if e.end_s is None else self.start_wall + e.end_s / self.time_scale
            out.append(d)
        return json.dumps(out)

    def max_between(self, wall0: float, wall1: float) -> tuple[float, float, bool]:
        """Worst true (O2, H2O) between two wall times and whether an excursion overlapped."""
        t0, t1 = self.sim_s(wall0), self.sim_s(wall1)
        m = self.atm.max_between(max(t0, 0.0), max(t1, 0.0))
        return m["o2_ppm"], m["h2o_ppm"], bool(self.atm.excursions_between(t0, t1))

    def _advance(self, wall: float) -> tuple[float, float]:
        dt = self.sim_s(wall) - self.atm.t_s
        n_exc = (len(self.atm.excursions), len(self.atm.active_excursions()))
        meas = self.atm.step(max(dt, 0.0))
        if (len(self.atm.excursions), len(self.atm.active_excursions())) != n_exc:
            self.excursions_changed = True
        return meas

    def _prepare(self, run: Run, recipe: dict) -> None:
        self._advance(run.start_wall)
        run.estimated_wall_s = self.spec.antechamber_cycle_s / self.time_scale
        self.atm.antechamber_cycle()
        run.payload = {"t0": self.atm.t_s, "trace": []}

    def _abort(self, run: Run, now: float) -> None:
        run.payload["abort_at"] = self.sim_s(now, run.start_wall)

    def _step(self, tg: float) -> list[Reading]:
        o2, h2o = self._advance(tg)
        if self.offline_until is not None:
            if tg < self.offline_until:
                return []
            self.offline_until = None
        out: list[Reading] = [(Function.O2.value, o2, tg), (Function.H2O.value, h2o, tg)]
        run = self.active
        if run is not None:
            t = self.sim_s(tg, run.start_wall)
            run.payload["trace"].append((t, o2, h2o))
            end = min(self.spec.antechamber_cycle_s, run.payload.get("abort_at", np.inf))
            if t >= end:
                self._finish_transfer(run, tg)
        return out

    def _finish_transfer(self, run: Run, tg: float) -> None:
        t0 = run.payload["t0"]
        m = self.atm.max_between(t0, self.atm.t_s)
        exc = self.atm.excursions_between(t0, self.atm.t_s)
        outcome = self.outcome_of(run, "Fault" if exc and not run.stop_kind else "Completed")
        tr = np.array(run.payload["trace"]).reshape(-1, 3)
        trace = {"t_s": json_floats(tr[:, 0]), "o2_ppm": json_floats(tr[:, 1]),
                 "h2o_ppm": json_floats(tr[:, 2]), "sample_ids": run.samples,
                 "excursions": [e.as_dict() for e in exc]}
        self._finish(run, RunResult(
            run_id=run.run_id, job_id=run.job_id, template_id=run.template_id, outcome=outcome.value,
            samples=run.samples, faults=sorted({f"excursion:{e.species}" for e in exc}),
            scalars={ResultVar.MAX_O2.value: m["o2_ppm"], ResultVar.MAX_H2O.value: m["h2o_ppm"],
                     ResultVar.DURATION.value: float(self.atm.t_s - t0)},
            arrays={}, trace_json=json.dumps(trace, separators=(",", ":")),
            started_s=run.start_wall, ended_s=tg), tg)
        self.active_faults = []


class ProfilometerDevice(Device):
    """Optical profilometer measuring collector foils one sample after another."""

    templates = ("MeasureCollector",)
    fault_kinds = ("comm_loss",)

    def __init__(self, cfg: DeviceConfig, plant: PlantFile, start_wall: float) -> None:
        super().__init__(cfg, plant, start_wall)
        self.spec: ProfilometerSpec = load_profilometer_spec(cfg.spec or "profilometer")
        self.lot: CollectorLot = load_collector_lot(cfg.collector_lot)
        self.capacity = self.spec.capacity_samples

    def identification(self) -> dict[str, str]:
        """Manufacturer, model, serial number, device class."""
        return {"Manufacturer": self.spec.manufacturer, "Model": self.spec.model,
                "SerialNumber": self.cfg.serial_number or f"{self.spec.serial_prefix}-{self.seed % 100000:05d}",
                "DeviceClass": "Profilometer"}

    def true_surface(self, sample_id: str) -> dict[str, float]:
        """The lot's surface for ``sample_id`` (same id -> same surface)."""
        rng = np.random.default_rng([self.seed, zlib.crc32(sample_id.encode())])
        return {k: float(v[0]) for k, v in sample_lot(self.lot, 1, rng).items()}

    def _convert_properties(self, props: dict[str, str]) -> dict[str, Any]:
        text = props.get(TRUE_SURFACES_KEY, "{}")
        try:
            given = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            raise ProgramError("BadInvalidArgument", f"{TRUE_SURFACES_KEY} is not JSON: {exc}") from exc
        if not isinstance(given, dict):
            raise ProgramError("BadInvalidArgument", f"{TRUE_SURFACES_KEY} must be a JSON object")
        return {"true": given}

    def _validate(self, recipe: dict, samples: list[str]) -> None:
        if not samples:
            raise ProgramError("BadInvalidArgument", "MeasureCollector needs at least one sample")
        given = recipe.get("true", {})
        for sid in samples:
            t = given.get(sid)
            if t is not None and (not isinstance(t, dict) or set(t) != set(MEASURE_KEYS)):
                raise ProgramError("BadInvalidArgument", f"true surface of {sid} needs {MEASURE_KEYS}")

    def _prepare(self, run: Run, recipe: dict) -> None:
        given = recipe.get("true", {})
        trues = []
        for sid in run.samples:
            t = given.get(sid) if isinstance(given, dict) else None
            if t is not None and (not isinstance(t, dict) or set(t) != set(MEASURE_KEYS)):
                raise ProgramError("BadInvalidArgument", f"true surface of {sid} needs {MEASURE_KEYS}")
            trues.append({k: float(v) for k, v in t.items()} if t else self.true_surface(sid))
        true = {k: np.array([t[k] for t in trues]) for k in MEASURE_KEYS}
        meas = measure(true, self.rng, self.spec, self.lot if not given else None)
        n = len(run.samples)
        t_done = self.spec.load_unload_s / 2 + self.spec.measure_s * (np.arange(n) + 1)
        if "comm_loss" in run.faults:
            n_ok = n // 2
            for k in meas:
                meas[k][n_ok:] = np.nan
            t_done = t_done[:max(n_ok, 1)]
        run.payload = {"meas": meas, "t_done": t_done, "published": 0,
                       "end": measure_duration_s(self.spec, n)}
        run.estimated_wall_s = run.payload["end"] / self.time_scale

    def _abort(self, run: Run, now: float) -> None:
        run.payload["abort_at"] = self.sim_s(now, run.start_wall)

    def _step(self, tg: float) -> list[Reading]:
        run = self.active
        out: list[Reading] = []
        if self.offline_until is not None:
            if tg < self.offline_until:
                return []
            self.offline_until = None
            self._finish_measure(run, tg)
        elif run is not None:
            pl = run.payload
            t = self.sim_s(tg, run.start_wall)
            end = min(pl["end"], pl.get("abort_at", np.inf))
            while pl["published"] < len(pl["t_done"]) and pl["t_done"][pl["published"]] <= min(t, end):
                i = pl["published"]
                out.extend((MEASURE_FUNCTIONS[k], float(pl["meas"][k][i]), tg) for k in MEASURE_KEYS)
                pl["published"] += 1
            if "comm_loss" in run.faults and pl["published"] >= len(pl["t_done"]) and t >= pl["t_done"][-1]:
                self.offline_until = tg + self.offline_s
                return out
            if t >= end:
                self._finish_measure(run, tg)
        return out

    def _finish_measure(self, run: Run, tg: float) -> None:
        pl = run.payload
        n_ok = pl["published"]
        meas = {k: np.where(np.arange(len(v)) < n_ok, v, np.nan) for k, v in pl["meas"].items()}
        outcome = self.outcome_of(run, "Fault" if "comm_loss" in run.faults else "Completed")
        arrays = {MEASURE_RESULTS[k]: [float(x) for x in meas[k]] for k in MEASURE_KEYS}
        trace = {"sample_ids": run.samples, "cutoff_short_um": self.spec.cutoff_short_um,
                 **{k: json_floats(meas[k]) for k in MEASURE_KEYS}}
        self._finish(run, RunResult(
            run_id=run.run_id, job_id=run.job_id, template_id=run.template_id, outcome=outcome.value,
            samples=run.samples, faults=list(run.faults),
            scalars={ResultVar.DURATION.value: self.sim_s(tg, run.start_wall),
                     ResultVar.CUTOFF_SHORT.value: self.spec.cutoff_short_um},
            arrays=arrays, trace_json=json.dumps(trace, separators=(",", ":")),
            started_s=run.start_wall, ended_s=tg), tg)
