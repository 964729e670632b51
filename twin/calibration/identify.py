"""Which parameters the data cannot pin: the observed Fisher information at the maximum, and the
flatness of the profile likelihood.

A parameter is *not identified* when the information along it vanishes (it loads on an
eigen-direction of the information matrix with a negligible eigenvalue) or when its standard
error on the log scale exceeds ``max_log_sd`` (0.5: the 95% interval spans more than a factor
2.7 either side); *weak* above ``weak_log_sd``; a profile that does not rise by the interval's
threshold inside the search bounds is flat (``twin.calibration.fit``) and also not identified.
Unidentified parameters keep their shipped values and the rest is refitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_LOG_SD = 0.5
WEAK_LOG_SD = 0.15
MIN_EIGEN_RATIO = 1e-8
MAX_CORRELATION = 0.98


@dataclass
class Verdict:
    name: str
    status: str  # identified, weak, not_identified
    log_sd: float
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "log_sd": self.log_sd if math.isfinite(self.log_sd) else None,
                "reason": self.reason}


def information(hessian: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors of the symmetrised observed information."""
    h = 0.5 * (hessian + hessian.T)
    return np.linalg.eigh(h)


def covariance(hessian: np.ndarray) -> np.ndarray | None:
    """Inverse of the observed information, or None when it is not positive definite."""
    vals, vecs = information(hessian)
    if len(vals) == 0 or vals[0] <= MIN_EIGEN_RATIO * max(vals[-1], 1e-300):
        return None
    return (vecs / vals) @ vecs.T


def assess(hessian: np.ndarray, names: list[str], max_log_sd: float = MAX_LOG_SD,
           weak_log_sd: float = WEAK_LOG_SD) -> list[Verdict]:
    """A verdict per parameter from the observed information at the maximum (log scale)."""
    vals, vecs = information(hessian)
    top = max(float(vals[-1]), 1e-300) if len(vals) else 1.0
    null = [k for k, v in enumerate(vals) if v <= MIN_EIGEN_RATIO * top]
    cov = covariance(hessian)
    out = []
    for i, name in enumerate(names):
        flat = [k for k in null if abs(vecs[i, k]) > 0.3]
        if flat:
            others = [names[j] for j in range(len(names)) if j != i and abs(vecs[j, flat[0]]) > 0.3]
            with_ = f" (confounded with {', '.join(others)})" if others else ""
            out.append(Verdict(name, "not_identified", math.inf,
                               f"the data carry no information along it{with_}: Fisher eigenvalue "
                               f"{vals[flat[0]]:.3g} of {top:.3g}"))
            continue
        sd = math.sqrt(cov[i, i]) if cov is not None and cov[i, i] > 0 else math.inf
        if sd > max_log_sd:
            out.append(Verdict(name, "not_identified", sd, f"log-scale standard error {sd:.2f} > {max_log_sd:g}: "
                               f"the 95% interval spans a factor {math.exp(1.96 * min(sd, 50.0)):.3g} either side"))
        elif sd > weak_log_sd:
            out.append(Verdict(name, "weak", sd, f"log-scale standard error {sd:.2f}"))
        else:
            out.append(Verdict(name, "identified", sd, f"log-scale standard error {sd:.3f}"))
    return out


def correlated_pairs(cov: np.ndarray | None, names: list[str], limit: float = MAX_CORRELATION) -> list[dict]:
    """Pairs of estimates so correlated that the data pin only their combination."""
    if cov is None:
        return []
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    return [{"a": names[i], "b": names[j], "correlation": float(corr[i, j])}
            for i in range(len(names)) for j in range(i + 1, len(names)) if abs(corr[i, j]) > limit]
