"""Instances: the paper's toy, the Cor 3.10 counterexample, seeded random instances, file I/O.

Files are ``.npz`` (``allow_pickle=False``) or ``.json`` with the keys
``rho, pi_ref, R_soft, w, R_hard, beta`` (and optionally ``name``); never pickle.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from opdcheck.numerics.logspace import softmax_rows
from opdcheck.problem import Problem

__all__ = ["paper_toy", "cor310_counterexample", "random_instance", "inverse_design_instance",
           "load_problem", "save_problem", "FILE_KEYS"]

FILE_KEYS = ("rho", "pi_ref", "R_soft", "w", "R_hard", "beta")


def paper_toy(beta: float = 0.05) -> Problem:
    """The toy of §3.2.2 / Fig. 1: one prompt, two responses.

    ``R_s = (1, 0)``, ``R_h = (-0.7, 0.3)``, ``pi_ref(y0) = 0.3``, ``beta = 0.05``.
    At ``lam = 1`` the score ``S = (0.3, 0.3)`` is flat, so ``pi* = pi_ref`` and the constraint
    ``-0.7 * 0.3 + 0.3 * 0.7 = 0`` is active: ``lam* = 1``.
    """
    return Problem(rho=[1.0], pi_ref=[[0.3, 0.7]], R_soft=[[[1.0, 0.0]]], w=[1.0],
                   R_hard=[[[-0.7, 0.3]]], beta=beta, name="paper-toy",
                   meta={"source": "paper §3.2.2, Fig. 1"})


def cor310_counterexample() -> Problem:
    """The distributional data of the Cor 3.10 counterexample (SPEC §3, ``cor-3.10-counterexample``).

    One prompt, two responses, ``pi_ref = p_0 = (0.2, 0.8)``, soft reward ``(1, 0)``, hard reward
    ``(-0.6, 0.4)``, ``beta = 0.05``. The parameterized class ``p_th(y0) = 0.2 + 0.1 th^2`` on
    ``Theta = [-1, 1]`` with ``eta = 3``, ``th_0 = 0`` is recorded in ``meta``.
    """
    return Problem(rho=[1.0], pi_ref=[[0.2, 0.8]], R_soft=[[[1.0, 0.0]]], w=[1.0],
                   R_hard=[[[-0.6, 0.4]]], beta=0.05, name="cor-3.10-counterexample",
                   meta={"source": "third-party counterexample to Cor 3.10",
                         "policy_class": "p_th(y0) = 0.2 + 0.1 th^2", "theta_bounds": (-1.0, 1.0),
                         "eta": 3.0, "theta0": 0.0})


def random_instance(X: int, n: int, h: int, beta: float, seed: int, *, K: int = 2,
                    reward_scale: float = 1.0, inactive: int = 0, ref_temperature: float = 1.0,
                    active_quantile: tuple[float, float] = (0.3, 0.8)) -> Problem:
    """A seeded random instance with a strictly feasible policy built in and some constraints active.

    Construction: raw hard rewards ``G_j`` and soft rewards uniform in ``[-s, s]``; ``pi_0`` is the
    unconstrained best response (``lam = 0``) and ``pi_s`` the deterministic policy maximising
    ``sum_j G_j`` over the first ``h - inactive`` constraints. A constraint with
    ``c_j(pi_s) > c_j(pi_0)`` gets a threshold a fraction
    ``f ~ U(active_quantile)`` of the way from ``c_j(pi_0)`` to ``c_j(pi_s)``: ``pi_0`` violates it
    (so at least one multiplier is positive) and ``pi_s`` satisfies it with margin. The last
    ``inactive`` constraints get a threshold below ``min_pi c_j(pi)`` (slack for every policy, so
    ``lam*_j = 0``); any other with ``c_j(pi_s) <= c_j(pi_0)`` a threshold below both,
    so ``pi_s`` is strictly feasible for all: Slater's margin ``xi >= min_j (c_j(pi_s) - b_j) > 0``
    by construction (the checks still compute ``xi`` by LP rather than trusting this).
    """
    for name, val, lo in (("X", X, 1), ("n", n, 2), ("h", h, 1), ("K", K, 1)):
        if not isinstance(val, (int, np.integer)) or val < lo:
            raise ValueError(f"random_instance: {name} = {val!r}; pass an integer >= {lo}.")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"random_instance: seed = {seed!r}; pass a non-negative integer.")
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"random_instance: beta = {beta!r}; pass a float >= 0.") from None
    if not np.isfinite(beta) or beta < 0:
        raise ValueError(f"random_instance: beta = {beta!r}; the KL weight must be a finite float >= 0.")
    if not (0 <= inactive < h) and not (inactive == 0):
        raise ValueError(f"random_instance: inactive = {inactive!r}; pass 0 <= inactive < h = {h} "
                         "(at least one constraint must be active).")
    if not 0 < active_quantile[0] < active_quantile[1] < 1:
        raise ValueError(f"random_instance: active_quantile = {active_quantile!r}; pass 0 < lo < hi < 1.")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), X, n, h, K]))
    rho = rng.dirichlet(np.ones(X))
    rho = np.maximum(rho, 1e-12)
    rho /= rho.sum()
    pi_ref = softmax_rows(rng.normal(size=(X, n)) * ref_temperature)
    R_soft = rng.uniform(-reward_scale, reward_scale, size=(K, X, n))
    w = rng.dirichlet(np.ones(K))
    G = rng.uniform(-reward_scale, reward_scale, size=(h, X, n))
    r = np.einsum("k,kxn->xn", w, R_soft)
    if beta > 0:
        pi_0 = softmax_rows(np.log(pi_ref) + r / beta)
    else:
        pi_0 = np.eye(n)[np.argmax(r, axis=1)]
    # pi_s favours the constraints that may be active (the slack ones hold for every policy), so that
    # at least one of them has c_j(pi_s) >= c_j(pi_0) and gets an active threshold
    pi_s = np.eye(n)[np.argmax(G[:h - inactive].sum(axis=0), axis=1)]
    c0 = np.einsum("x,xn,jxn->j", rho, pi_0, G)
    cs = np.einsum("x,xn,jxn->j", rho, pi_s, G)
    spread = np.abs(G).max()
    f = rng.uniform(*active_quantile, size=h)
    b = np.empty(h)
    for j in range(h):
        slack_j = j >= h - inactive
        if slack_j:
            # below c_j of *every* policy (not only pi_0, pi_s): never active at pi*, so lam*_j = 0 exactly
            b[j] = float(rho @ G[j].min(axis=1)) - 0.2 * spread
        elif cs[j] > c0[j]:
            b[j] = c0[j] + f[j] * (cs[j] - c0[j])
        else:
            b[j] = min(c0[j], cs[j]) - 0.2 * spread
    R_hard = G - b[:, None, None]
    return Problem(rho=rho, pi_ref=pi_ref, R_soft=R_soft, w=w, R_hard=R_hard, beta=beta,
                   name=f"random(X={X},n={n},h={h},beta={beta:g},seed={seed})",
                   meta={"seed": int(seed), "generator": "random_instance", "inactive": int(inactive)})


def inverse_design_instance(pi_star: np.ndarray, lam_star: np.ndarray, R_soft: np.ndarray,
                            G: np.ndarray, beta: float, rho: np.ndarray | None = None,
                            name: str = "inverse-design") -> Problem:
    """An instance whose saddle point is known exactly: ``(pi*, lam*)`` are chosen, the rest follows.

    Thresholds make every constraint with ``lam*_j > 0`` active at ``pi*`` (``R_hard = G - c_G(pi*)``)
    and ``pi_ref ∝ pi* exp(-S_{lam*} / beta)`` makes ``pi* = pi_{lam*}`` (eq. (3)). Constraints with
    ``lam*_j = 0`` are given slack 0.1 * max|G|.
    """
    pi_star = np.asarray(pi_star, dtype=np.float64)
    lam_star = np.asarray(lam_star, dtype=np.float64)
    R_soft = np.asarray(R_soft, dtype=np.float64)
    G = np.asarray(G, dtype=np.float64)
    X, n = pi_star.shape
    rho = np.full(X, 1.0 / X) if rho is None else np.asarray(rho, dtype=np.float64)
    if beta <= 0:
        raise ValueError(f"inverse_design_instance: beta = {beta!r}; the construction needs beta > 0.")
    cG = np.einsum("x,xn,jxn->j", rho, pi_star, G)
    b = np.where(lam_star > 0, cG, cG - 0.1 * np.abs(G).max())
    R_hard = G - b[:, None, None]
    w = np.full(R_soft.shape[0], 1.0 / R_soft.shape[0])
    S = np.einsum("k,kxn->xn", w, R_soft) + np.tensordot(lam_star, R_hard, axes=(0, 0))
    pi_ref = softmax_rows(np.log(pi_star) - S / beta)
    return Problem(rho=rho, pi_ref=pi_ref, R_soft=R_soft, w=w, R_hard=R_hard, beta=beta, name=name,
                   meta={"generator": "inverse_design", "pi_star": pi_star.tolist(),
                         "lam_star": lam_star.tolist()})


# ------------------------------------------------------------------------------------ file I/O
def save_problem(problem: Problem, path: str | Path) -> Path:
    """Write ``problem`` to ``.npz`` or ``.json`` (by suffix)."""
    path = Path(path)
    data = {k: np.asarray(getattr(problem, k)) for k in FILE_KEYS}
    if path.suffix == ".npz":
        np.savez(path, name=np.asarray(problem.name), **data)
    elif path.suffix == ".json":
        payload = {k: v.tolist() for k, v in data.items()}
        payload["name"] = problem.name
        path.write_text(json.dumps(payload, indent=1))
    else:
        raise ValueError(f"save_problem: path suffix {path.suffix!r}; use .npz or .json.")
    return path


def load_problem(path: str | Path) -> Problem:
    """Read and validate a problem from ``.npz`` or ``.json``; errors name the file and the field."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"instance file {str(path)!r} does not exist; pass the path of a .npz or .json file.")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as f:
                raw = {k: f[k] for k in f.files}
        except ValueError as exc:
            raise ValueError(f"{path}: cannot be read without pickle ({exc}); save plain numeric arrays.") from None
        except Exception as exc:  # zipfile.BadZipFile, OSError
            raise ValueError(f"{path}: not a valid .npz file ({exc}).") from None
    elif path.suffix == ".json":
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: invalid JSON ({exc}).") from None
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: top level must be an object with keys {FILE_KEYS}.")
    else:
        raise ValueError(f"instance file {str(path)!r}: suffix {path.suffix!r}; use .npz or .json.")
    missing = [k for k in FILE_KEYS if k not in raw]
    if missing:
        raise ValueError(f"{path}: missing field(s) {missing}; an instance needs {list(FILE_KEYS)} "
                         "(R_hard with thresholds already subtracted).")
    name = raw.get("name", path.stem)
    name = str(np.asarray(name)) if not isinstance(name, str) else name
    try:
        beta = float(np.asarray(raw["beta"]))
    except (TypeError, ValueError):
        raise ValueError(f"{path}: field beta = {raw['beta']!r} is not a number; pass a float >= 0.") from None
    return Problem(rho=raw["rho"], pi_ref=raw["pi_ref"], R_soft=raw["R_soft"], w=raw["w"],
                   R_hard=raw["R_hard"], beta=beta, name=name, meta={"file": str(path)})
