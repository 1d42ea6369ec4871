"""Parameterized policy classes for Algorithm 3 behind one small protocol, and parameter sets Theta.

Protocol (:class:`PolicyClass`), for a parameter vector ``theta`` of length ``d``:

* ``log_probs(theta) -> (X, n)``: normalised ``log pi_theta[x, y]``;
* ``score(theta) -> (X, n, d)``: ``grad_theta log pi_theta[x, y]``;
* ``fisher(theta, rho) -> (d, d)``: ``F(theta) = E_{x~rho, y~pi_theta}[score score^T]`` (Sec. 3.3, eq. (8));
* ``project(theta)``: the Euclidean projection onto Theta (closed, convex; Sec. 3.2.3).

Classes: :class:`TabularSoftmax` (``theta[x, y]`` one logit per pair, Remark 3.5),
:class:`LogLinear` (``pi_theta[x, y] ∝ exp(theta . phi[x, y])``; ``d < X n`` is a misspecified class)
and :class:`CustomPolicy` (user functions, e.g. the Cor 3.10 counterexample's
``p_theta(y0) = 0.2 + 0.1 theta^2``). Parameter sets: :class:`WholeSpace`, :class:`Box`,
:class:`L2Ball`, :class:`Interval`, each with its exact projection.

Paper: Li, Ju, Shroff, arXiv 2602.22146, Sec. 3.3 (Algorithm 3), App. D (Remark 3.5).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from opdcheck.logspace import log_softmax_rows

__all__ = ["ParamSet", "WholeSpace", "Box", "Interval", "L2Ball", "PolicyClass", "TabularSoftmax",
           "LogLinear", "CustomPolicy", "as_theta"]


def as_theta(theta, d: int, who: str = "theta") -> np.ndarray:
    """``theta`` as a finite float64 vector of length ``d`` (ValueError naming the field otherwise)."""
    try:
        th = np.asarray(theta, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: {theta!r} is not a numeric vector; pass {d} floats.") from None
    if th.shape != (d,):
        raise ValueError(f"{who}: length {th.size}, expected {d} (the class's number of parameters d).")
    if not np.all(np.isfinite(th)):
        raise ValueError(f"{who}: entry {int(np.flatnonzero(~np.isfinite(th))[0])} is not finite; pass finite floats.")
    return th


# ------------------------------------------------------------------------------ parameter sets
class ParamSet:
    """A closed convex Theta ⊂ R^d with its exact Euclidean projection."""

    name = "set"

    def project(self, theta: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def contains(self, theta: np.ndarray, atol: float = 0.0) -> bool:
        return bool(np.max(np.abs(self.project(theta) - theta), initial=0.0) <= atol)

    def sample(self, rng: np.random.Generator, d: int, scale: float = 1.0) -> np.ndarray:
        """A random point of Theta (multi-start searches)."""
        return self.project(rng.normal(scale=scale, size=d))

    def describe(self) -> str:
        return self.name


class WholeSpace(ParamSet):
    """Theta = R^d (projection = identity)."""

    name = "R^d"

    def project(self, theta: np.ndarray) -> np.ndarray:
        return np.asarray(theta, dtype=np.float64)


class Box(ParamSet):
    """Theta = {lo <= theta <= hi} (coordinate-wise; scalars broadcast). Projection: clip."""

    def __init__(self, lo, hi) -> None:
        lo_a, hi_a = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        if not (np.all(np.isfinite(lo_a)) and np.all(np.isfinite(hi_a))):
            raise ValueError(f"Box: lo = {lo!r}, hi = {hi!r}; pass finite bounds (use WholeSpace for R^d).")
        if np.any(lo_a > hi_a):
            raise ValueError(f"Box: lo = {lo!r} > hi = {hi!r} somewhere; pass lo <= hi.")
        self.lo, self.hi = lo_a, hi_a
        self.name = f"box[{np.min(lo_a):g}, {np.max(hi_a):g}]"

    def project(self, theta: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(theta, dtype=np.float64), self.lo, self.hi)

    def sample(self, rng: np.random.Generator, d: int, scale: float = 1.0) -> np.ndarray:
        lo, hi = np.broadcast_to(self.lo, (d,)), np.broadcast_to(self.hi, (d,))
        return lo + (hi - lo) * rng.random(d)


class Interval(Box):
    """Theta = [lo, hi] ⊂ R (d = 1), e.g. the counterexample's [-1, 1]."""

    def __init__(self, lo: float, hi: float) -> None:
        super().__init__(float(lo), float(hi))
        self.name = f"[{float(lo):g}, {float(hi):g}]"


class L2Ball(ParamSet):
    """Theta = {||theta - center||_2 <= radius}. Projection: radial scaling onto the sphere."""

    def __init__(self, radius: float, center=0.0) -> None:
        radius = float(radius)
        if not (math.isfinite(radius) and radius > 0):
            raise ValueError(f"L2Ball: radius = {radius!r}; pass a finite radius > 0.")
        self.radius, self.center = radius, np.asarray(center, dtype=np.float64)
        self.name = f"l2-ball(r={radius:g})"

    def project(self, theta: np.ndarray) -> np.ndarray:
        v = np.asarray(theta, dtype=np.float64) - self.center
        nv = float(np.linalg.norm(v))
        return self.center + (v if nv <= self.radius else v * (self.radius / nv))

    def sample(self, rng: np.random.Generator, d: int, scale: float = 1.0) -> np.ndarray:
        v = rng.normal(size=d)
        return self.center + v / np.linalg.norm(v) * self.radius * rng.random() ** (1.0 / d)


# ------------------------------------------------------------------------------ policy classes
class PolicyClass:
    """The protocol every parameterized class implements (see the module docstring).

    ``fisher(theta, rho, centred=True)``: with ``centred=False`` the *uncentred* second moment of the
    raw features ``E[phi phi^T]`` (a known bug class; negative controls only). The default uses the
    score, i.e. centred features.
    """

    X: int
    n: int
    d: int
    param_set: ParamSet
    name = "policy"

    def log_probs(self, theta: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def score(self, theta: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def raw_features(self, theta: np.ndarray) -> np.ndarray:
        """Uncentred features whose centring is the score (default: the score itself)."""
        return self.score(theta)

    def fisher(self, theta: np.ndarray, rho: np.ndarray, *, centred: bool = True) -> np.ndarray:
        pi = np.exp(self.log_probs(theta))
        G = self.score(theta) if centred else self.raw_features(theta)
        wts = rho[:, None] * pi
        return np.einsum("xy,xyd,xye->de", wts, G, G)

    def project(self, theta: np.ndarray) -> np.ndarray:
        return self.param_set.project(as_theta(theta, self.d))

    def check_theta(self, theta, who: str = "theta") -> np.ndarray:
        return as_theta(theta, self.d, who)

    def describe(self) -> dict:
        return {"policy_class": self.name, "d": self.d, "Theta": self.param_set.describe()}


class TabularSoftmax(PolicyClass):
    """``pi_theta[x, y] = softmax(theta[x, :])[y]``, ``d = X n`` (theta flattened row-major).

    Score: ``d log pi[x', y'] / d theta[x, y] = 1{x'=x} (1{y'=y} - pi[x, y])`` (App. D);
    Fisher ``F = E_x[diag(pi_x) - pi_x pi_x^T]`` (App. D, derived in ``theory/alg3.py``).
    """

    name = "tabular-softmax"

    def __init__(self, X: int, n: int, param_set: ParamSet | None = None) -> None:
        if int(X) < 1 or int(n) < 2:
            raise ValueError(f"TabularSoftmax: X = {X!r}, n = {n!r}; need X >= 1 and n >= 2.")
        self.X, self.n, self.d = int(X), int(n), int(X) * int(n)
        self.param_set = param_set or WholeSpace()

    def log_probs(self, theta: np.ndarray) -> np.ndarray:
        return log_softmax_rows(np.asarray(theta, dtype=np.float64).reshape(self.X, self.n))

    def score(self, theta: np.ndarray) -> np.ndarray:
        pi = np.exp(self.log_probs(theta))
        G = np.zeros((self.X, self.n, self.X, self.n))
        for x in range(self.X):
            G[x, :, x, :] = np.eye(self.n) - pi[x][None, :]
        return G.reshape(self.X, self.n, self.d)

    def raw_features(self, theta: np.ndarray) -> np.ndarray:
        return np.eye(self.d).reshape(self.X, self.n, self.d)

    def fisher(self, theta: np.ndarray, rho: np.ndarray, *, centred: bool = True) -> np.ndarray:
        pi = np.exp(self.log_probs(theta))
        F = np.zeros((self.d, self.d))
        for x in range(self.X):
            s = slice(x * self.n, (x + 1) * self.n)
            F[s, s] = rho[x] * (np.diag(pi[x]) - (np.outer(pi[x], pi[x]) if centred else 0.0))
        return F

    @staticmethod
    def theta_of(log_pi: np.ndarray) -> np.ndarray:
        """A parameter with ``pi_theta = exp(log_pi)`` (the logits themselves)."""
        return np.asarray(log_pi, dtype=np.float64).reshape(-1).copy()


class LogLinear(PolicyClass):
    """``pi_theta[x, y] ∝ exp(theta . phi[x, y])`` with features ``phi`` of shape (X, n, d).

    Score ``phi[x, y] - E_{pi_x} phi[x, .]`` (centred features); Fisher by two BLAS products
    ``Phi^T diag(rho pi) Phi - Phibar^T diag(rho) Phibar`` on the (X n, d) feature matrix, never
    materialising the (X, n, d) score (the benchmark's X n = 1e6, d = 64 would need another 512 MB).
    """

    name = "log-linear"

    def __init__(self, phi, param_set: ParamSet | None = None) -> None:
        phi = np.asarray(phi, dtype=np.float64)
        if phi.ndim != 3 or phi.shape[1] < 2 or phi.shape[2] < 1:
            raise ValueError(f"LogLinear: phi has shape {phi.shape}; pass features of shape (X, n, d) with n >= 2, d >= 1.")
        if not np.all(np.isfinite(phi)):
            raise ValueError("LogLinear: phi has non-finite entries; pass finite features.")
        self.phi = phi
        self.X, self.n, self.d = phi.shape
        self._flat = phi.reshape(self.X * self.n, self.d)
        self.param_set = param_set or WholeSpace()

    def logits(self, theta: np.ndarray) -> np.ndarray:
        return (self._flat @ np.asarray(theta, dtype=np.float64)).reshape(self.X, self.n)

    def log_probs(self, theta: np.ndarray) -> np.ndarray:
        return log_softmax_rows(self.logits(theta))

    def mean_features(self, pi: np.ndarray) -> np.ndarray:
        """``E_{pi_x} phi[x, .]``, shape (X, d)."""
        return np.einsum("xy,xyd->xd", pi, self.phi)

    def score(self, theta: np.ndarray) -> np.ndarray:
        pi = np.exp(self.log_probs(theta))
        return self.phi - self.mean_features(pi)[:, None, :]

    def raw_features(self, theta: np.ndarray) -> np.ndarray:
        return self.phi

    def fisher(self, theta: np.ndarray, rho: np.ndarray, *, centred: bool = True, pi: np.ndarray | None = None) -> np.ndarray:
        if pi is None:
            pi = np.exp(self.log_probs(theta))
        wts = (rho[:, None] * pi).reshape(-1)
        F = self._flat.T @ (self._flat * wts[:, None])
        if centred:
            mbar = self.mean_features(pi)
            F -= mbar.T @ (mbar * rho[:, None])
        return 0.5 * (F + F.T)

    def grad_moment(self, weights_xy: np.ndarray) -> np.ndarray:
        """``sum_{x,y} weights[x, y] phi[x, y]`` (one BLAS matrix-vector product)."""
        return self._flat.T @ np.asarray(weights_xy, dtype=np.float64).reshape(-1)

    def lipschitz_constant(self) -> float:
        """A valid C of Assumption 3.8: ``|log pi_1 - log pi_2| <= 2 max|phi| ||theta_1 - theta_2||_1``
        pointwise (the score is ``phi - E phi``, each coordinate at most ``2 max|phi|``)."""
        return 2.0 * float(np.abs(self.phi).max())

    def p_min_lower_bound(self) -> float:
        """``min_{theta in Theta} min pi_theta`` from below, for a Box Theta (0 otherwise).

        ``pi[x, y] = 1 / sum_y' exp(theta . (phi[x,y'] - phi[x,y])) >= 1 / (n exp(b max ||dphi||_1))`` with
        ``b = max |theta_i|`` over the box."""
        if not isinstance(self.param_set, Box):
            return 0.0
        b = float(max(np.max(np.abs(self.param_set.lo)), np.max(np.abs(self.param_set.hi))))
        dphi = np.abs(self.phi[:, :, None, :] - self.phi[:, None, :, :]).sum(axis=-1).max()
        return float(math.exp(-b * dphi) / self.n)


class CustomPolicy(PolicyClass):
    """A class from user functions: ``log_prob_fn(theta) -> (X, n)`` normalised log-probabilities and
    ``score_fn(theta) -> (X, n, d)`` their gradient. ``lipschitz`` and ``p_min`` may be supplied for
    Assumption 3.8 / the class's ``p_min`` (Sec. 3.2.3)."""

    def __init__(self, log_prob_fn: Callable[[np.ndarray], np.ndarray], score_fn: Callable[[np.ndarray], np.ndarray],
                 d: int, X: int, n: int, param_set: ParamSet | None = None, name: str = "custom",
                 lipschitz: float | None = None, p_min: float | None = None) -> None:
        self._lp, self._sc = log_prob_fn, score_fn
        self.d, self.X, self.n = int(d), int(X), int(n)
        self.param_set = param_set or WholeSpace()
        self.name, self.lipschitz, self.p_min = name, lipschitz, p_min

    def log_probs(self, theta: np.ndarray) -> np.ndarray:
        lp = np.asarray(self._lp(np.asarray(theta, dtype=np.float64)), dtype=np.float64)
        if lp.shape != (self.X, self.n):
            raise ValueError(f"CustomPolicy({self.name}).log_prob_fn returned shape {lp.shape}; expected ({self.X}, {self.n}).")
        return lp

    def score(self, theta: np.ndarray) -> np.ndarray:
        g = np.asarray(self._sc(np.asarray(theta, dtype=np.float64)), dtype=np.float64)
        if g.shape != (self.X, self.n, self.d):
            raise ValueError(f"CustomPolicy({self.name}).score_fn returned shape {g.shape}; expected ({self.X}, {self.n}, {self.d}).")
        return g


def quadratic_two_arm_class(p0: float = 0.2, a: float = 0.1, bounds: tuple[float, float] = (-1.0, 1.0)) -> CustomPolicy:
    """The counterexample's class ``p_theta(y0) = p0 + a theta^2`` on ``Theta = [lo, hi]`` (one prompt).

    Score ``d log p(y0)/d theta = 2 a theta / p(y0)``, ``d log p(y1)/d theta = -2 a theta / (1 - p(y0))``:
    both vanish at ``theta = 0``, so does the Fisher matrix."""
    lo, hi = bounds

    def p_of(th):
        return p0 + a * float(th[0]) ** 2

    def log_prob(th):
        p = p_of(th)
        if not 0 < p < 1:
            raise ValueError(f"quadratic class: p_theta(y0) = {p!r} at theta = {float(th[0])!r}; not in (0, 1).")
        return np.log([[p, 1.0 - p]])

    def score(th):
        p = p_of(th)
        dp = 2 * a * float(th[0])
        return np.array([[[dp / p], [-dp / (1.0 - p)]]])

    m = max(abs(lo), abs(hi))
    pmax = p0 + a * m * m
    lip = 0.5 * (2 * a * m / p0 + 2 * a * m / (1 - pmax))  # mean over the two responses of sup |d log p / d theta|
    return CustomPolicy(log_prob, score, d=1, X=1, n=2, param_set=Interval(lo, hi),
                        name=f"p(y0)={p0:g}+{a:g} theta^2", lipschitz=lip, p_min=min(p0, 1 - pmax))


__all__.append("quadratic_two_arm_class")
