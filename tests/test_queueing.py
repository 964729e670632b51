"""The line twin against queueing theory: M/M/1, M/M/c (Erlang C) and an open Jackson
network with a rework loop (traffic equations + product form + Little).

Every theoretical value is computed here from its definition, from the scenario's own
parameters (rates and routing read from the YAML), never from the engine's output.

Acceptance rule (helpers.assert_close_ci): |measured - theory| <= ci95 + slack * theory.
The ci95 half-width is the Student-t interval across replications reported in the
summary (or computed in helpers.t_interval for trace-derived quantities). The small
relative slack (REL_SLACK = 1.5%) covers the O(1/T) bias of finite runs (initial
transient left after the warm-up, cells in progress at both ends of the window) and keeps
the ~30 interval checks in this file from failing as a family when the random streams
change: with 95% intervals alone, about one check in twenty would miss by chance.
The slack is small against the effects tested (a wrong Erlang C or traffic equation
moves these KPIs by 10% or more). Each interval must also be tight (MAX_REL_HW), so
that a noisy run cannot pass vacuously.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.helpers import assert_close_ci, load, run_reps, t_interval, visits_at

REL_SLACK = 0.015
MAX_REL_HW = 0.10  # a 95% half-width above 10% of the value would make the check toothless


# --- theory (independent of the engine) ----------------------------------------------

def erlang_c(c: int, a: float) -> float:
    """P(an arrival waits) in M/M/c with offered load a = lambda/mu (a < c), from the definition
    P(wait) = [a^c/c! * c/(c-a)] / [sum_{k<c} a^k/k! + a^c/c! * c/(c-a)]."""
    assert a < c
    tail = a**c / math.factorial(c) * c / (c - a)
    return tail / (sum(a**k / math.factorial(k) for k in range(c)) + tail)


def mmc(lam: float, mean_service: float, c: int) -> dict:
    """Stationary M/M/c: utilisation, P(wait), Wq, W, Lq, L (Little: L = lambda W)."""
    mu = 1.0 / mean_service
    a = lam / mu
    pw = erlang_c(c, a)
    wq = pw / (c * mu - lam)
    w = wq + 1.0 / mu
    return {"rho": a / c, "pw": pw, "Wq": wq, "W": w, "Lq": lam * wq, "L": lam * w}


def birth_death_mmc(lam: float, mu: float, c: int, n_max: int = 400) -> dict:
    """The same quantities by solving the truncated birth-death chain numerically
    (a cross-check of the closed form used above)."""
    p = np.ones(n_max + 1)
    for n in range(1, n_max + 1):
        p[n] = p[n - 1] * lam / (mu * min(n, c))
    p /= p.sum()
    n = np.arange(n_max + 1)
    L = float((n * p).sum())
    Lq = float((np.maximum(n - c, 0) * p).sum())
    return {"pw": float(p[c:].sum()), "L": L, "Lq": Lq, "Wq": Lq / lam, "W": L / lam}


def test_erlang_c_matches_birth_death_chain():
    for lam, mean_s, c in [(1.0, 0.8, 1), (2.0, 1.2, 3), (1.25, 1.2, 2), (5.0, 1.5, 9)]:
        closed, numeric = mmc(lam, mean_s, c), birth_death_mmc(lam, 1.0 / mean_s, c)
        for k in ("pw", "L", "Lq", "Wq", "W"):
            assert closed[k] == pytest.approx(numeric[k], rel=1e-9), (lam, mean_s, c, k)
    # textbook values: M/M/1 rho=0.8 -> L = 4; M/M/2 a=1 -> P(wait) = 1/3
    assert mmc(1.0, 0.8, 1)["L"] == pytest.approx(4.0)
    assert erlang_c(2, 1.0) == pytest.approx(1.0 / 3.0)


# --- helpers -------------------------------------------------------------------------

def _single_station(scenario):
    """(lambda, mean service, servers, station name) of a one-station exponential scenario."""
    (name, st), = scenario.stations.items()
    assert scenario.source.interarrival_h.dist == "exponential" and st.process_time_h.dist == "exponential"
    return 1.0 / scenario.source.interarrival_h.mean, st.process_time_h.mean, st.servers, name


def _check(summary, kpi, theory, station=None):
    value = summary[kpi][station] if station else summary[kpi]
    hw = summary["ci95"][kpi][station] if station else summary["ci95"][kpi]
    label = f"{kpi}.{station}" if station else kpi
    assert hw <= MAX_REL_HW * abs(theory), f"{label}: interval ±{hw:.3g} too wide to test anything"
    assert_close_ci(label, value, hw, theory, REL_SLACK)


def _wq_interval(reps, station, warmup):
    """Mean waiting time in queue (t_start - t_arrive) per replication, from the trace."""
    per_rep = []
    for rep in reps:
        v = visits_at(rep, station, warmup)
        per_rep.append(float((v[:, 1] - v[:, 0]).mean()))
    return t_interval(per_rep)


def _check_expect_block(scenario, summary, theory_by_kpi):
    """The shipped `expect:` bounds bracket the theory and the measured value."""
    from twin.simulation import kpi_value

    assert scenario.expect, "a validation scenario must ship an expect block"
    for e in scenario.expect:
        theory = theory_by_kpi[e.kpi]
        value = kpi_value(summary, e.kpi)
        for x, what in ((theory, "theory"), (value, "measured")):
            assert (e.min is None or x >= e.min) and (e.max is None or x <= e.max), (e.kpi, what, x, e.min, e.max)


# --- M/M/1 ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mm1_run():
    sc = load("mm1.yaml")
    # M/M/1 at rho 0.8 is the noisiest case (the variance of the time-average of L grows like
    # 1/(1-rho)^4): 10 replications instead of the file's 5 keep the intervals under 10%
    summary, reps = run_reps(sc, replications=10)
    return sc, summary, reps


@pytest.mark.slow
def test_mm1_matches_theory(mm1_run):
    sc, summary, reps = mm1_run
    lam, mean_s, c, name = _single_station(sc)
    assert c == 1
    th = mmc(lam, mean_s, 1)
    rho = lam * mean_s
    # M/M/1 closed forms (the c = 1 case of Erlang C): Wq = rho/(mu - lambda), L = rho/(1 - rho)
    assert th["Wq"] == pytest.approx(rho / (1 / mean_s - lam))
    assert th["L"] == pytest.approx(rho / (1 - rho))
    _check(summary, "utilisation", th["rho"], name)
    _check(summary, "mean_wip", th["L"])
    _check(summary, "mean_cycle_time_h", th["W"])
    _check(summary, "throughput_per_h", lam)
    wq, hw = _wq_interval(reps, name, sc.run.warmup_h)
    assert hw <= MAX_REL_HW * th["Wq"]
    assert_close_ci("Wq", wq, hw, th["Wq"], REL_SLACK)
    _check_expect_block(sc, summary, {"mean_wip": th["L"], f"utilisation.{name}": th["rho"]})


# --- M/M/c ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mmc_run():
    sc = load("validation_mmc.yaml")
    summary, reps = run_reps(sc)
    return sc, summary, reps


@pytest.mark.slow
def test_mmc_matches_erlang_c(mmc_run):
    sc, summary, reps = mmc_run
    lam, mean_s, c, name = _single_station(sc)
    assert c > 1
    th = mmc(lam, mean_s, c)
    _check(summary, "utilisation", th["rho"], name)
    _check(summary, "mean_wip", th["L"])
    _check(summary, "mean_cycle_time_h", th["W"])
    _check(summary, "throughput_per_h", lam)
    wq, hw = _wq_interval(reps, name, sc.run.warmup_h)
    assert hw <= MAX_REL_HW * th["Wq"]
    assert_close_ci("Wq", wq, hw, th["Wq"], REL_SLACK)
    # P(wait) from the trace: share of arrivals that found all servers busy
    pw = t_interval([float((np.diff(visits_at(r, name, sc.run.warmup_h)[:, :2], axis=1) > 0).mean()) for r in reps])
    assert_close_ci("P(wait)", *pw, th["pw"], REL_SLACK)
    _check_expect_block(sc, summary, {"mean_wip": th["L"], "mean_cycle_time_h": th["W"],
                                      f"utilisation.{name}": th["rho"], "throughput_per_h": lam})


# --- Jackson network with a rework loop ---------------------------------------------

def jackson_theory(scenario) -> dict:
    """Traffic equations lambda = gamma + P^T lambda from the scenario's routing, then each
    station as an independent M/M/c (product form), total L, and W = L / lambda_external."""
    names = list(scenario.stations)
    idx = {n: i for i, n in enumerate(names)}
    m = len(names)
    P = np.zeros((m, m))
    to_sink = np.zeros(m)
    for n, st in scenario.stations.items():
        branches = [(st.next, 1.0)] if isinstance(st.next, str) else [(r.to, r.p) for r in st.next]
        for to, p in branches:
            if to in idx:
                P[idx[n], idx[to]] += p
            elif to == "sink":
                to_sink[idx[n]] += p
    gamma = np.zeros(m)
    lam_ext = 1.0 / scenario.source.interarrival_h.mean
    gamma[idx[scenario.source.first]] = lam_ext
    lam = np.linalg.solve(np.eye(m) - P.T, gamma)
    per = {}
    for n, st in scenario.stations.items():
        assert st.process_time_h.dist == "exponential"
        per[n] = {"lambda": lam[idx[n]], **mmc(lam[idx[n]], st.process_time_h.mean, st.servers)}
    L = sum(s["L"] for s in per.values())
    accepted = float(lam @ to_sink)
    return {"stations": per, "L": L, "W": L / lam_ext, "lambda": lam_ext,
            "throughput": accepted, "final_yield": accepted / lam_ext}


@pytest.fixture(scope="module")
def jackson_run():
    sc = load("validation_jackson.yaml")
    summary, reps = run_reps(sc)
    return sc, summary, reps


def test_jackson_traffic_equations_by_hand():
    """The linear solve above agrees with the traffic equations worked by hand for the shipped
    network: lambda_press = lambda_check = 1 / (1 - 0.2)."""
    th = jackson_theory(load("validation_jackson.yaml"))
    assert th["stations"]["prep"]["lambda"] == pytest.approx(1.0)
    assert th["stations"]["press"]["lambda"] == pytest.approx(1.25)
    assert th["stations"]["check"]["lambda"] == pytest.approx(1.25)
    assert th["L"] == pytest.approx(1.5 + (1.25 * 1.2 + 1.25 * (4.5 / 7) / (2 / 1.2 - 1.25)) + 0.7 / 0.3)
    assert th["throughput"] == pytest.approx(0.9375)


@pytest.mark.slow
def test_jackson_network_matches_product_form(jackson_run):
    sc, summary, reps = jackson_run
    th = jackson_theory(sc)
    warm, window = sc.run.warmup_h, sc.run.duration_h - sc.run.warmup_h
    assert any(th["stations"][n]["lambda"] > th["lambda"] for n in th["stations"]), "no loop in the network"
    for name, s in th["stations"].items():
        _check(summary, "utilisation", s["rho"], name)
        # visit rate at each station = traffic-equation lambda_i
        rate = t_interval([len(visits_at(r, name, warm)) / window for r in reps])
        assert_close_ci(f"lambda.{name}", *rate, s["lambda"], REL_SLACK)
        # mean sojourn per visit W_i = L_i / lambda_i (no blocking: unlimited buffers)
        sojourn = t_interval([float((lambda v: (v[:, 3] - v[:, 0]).mean())(visits_at(r, name, warm))) for r in reps])
        assert_close_ci(f"W.{name}", *sojourn, s["W"], REL_SLACK)
    _check(summary, "mean_wip", th["L"])
    _check(summary, "mean_cycle_time_h", th["W"])
    _check(summary, "throughput_per_h", th["throughput"])
    _check(summary, "final_yield", th["final_yield"])
    _check_expect_block(sc, summary, {
        "mean_wip": th["L"], "mean_cycle_time_h": th["W"], "throughput_per_h": th["throughput"],
        "final_yield": th["final_yield"], "utilisation.press": th["stations"]["press"]["rho"],
        "utilisation.check": th["stations"]["check"]["rho"]})
