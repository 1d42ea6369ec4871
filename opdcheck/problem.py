"""The KL-regularized constrained alignment problem of the paper (§2, eqs. (1)-(3)).

A :class:`Problem` is one finite instance::

    max_pi  sum_x rho[x] ( <pi[x], r[x]> - beta KL(pi[x] || pi_ref[x]) )
    s.t.    c_j(pi) = sum_x rho[x] <pi[x], R_hard[j, x]> >= 0,   j = 1..h

with ``r = sum_k w[k] R_soft[k]`` and the thresholds already folded into ``R_hard``.
The Lagrangian is ``L(pi, lam) = sum_x rho[x] (<pi[x], S_lam[x]> - beta KL(pi[x]||pi_ref[x]))``
with ``S_lam = r + sum_j lam_j R_hard[j]``.

The instance is validated once, at construction; nothing downstream re-validates.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from opdcheck.tolerances import SIMPLEX_SUM_ATOL

__all__ = ["Problem"]


def _as_float_array(name: str, value: Any, ndim: int, shape_doc: str) -> np.ndarray:
    if np.iscomplexobj(value):  # np.array(..., dtype=float64) would drop the imaginary part silently
        raise ValueError(
            f"Problem.{name}: complex values; rewards and probabilities are real. Pass the real part "
            f"explicitly (np.real(...)) if that is what you mean, as an array of shape {shape_doc}."
        )
    try:
        arr = np.array(value, dtype=np.float64, copy=True)
    except OverflowError:
        raise ValueError(
            f"Problem.{name}: a value is beyond the float64 range (~1.8e308); every entry must be a finite float."
        ) from None
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"Problem.{name}: cannot be read as a float64 array ({exc}); "
            f"pass a numeric array of shape {shape_doc}."
        ) from None
    if arr.ndim != ndim:
        raise ValueError(
            f"Problem.{name}: expected {ndim} dimension(s) {shape_doc}, got shape {arr.shape}; "
            f"reshape it to {shape_doc}."
        )
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        raise ValueError(
            f"Problem.{name}: non-finite value {float(arr[idx])!r} at index {idx}; "
            "every entry must be a finite float (no NaN or inf)."
        )
    arr.setflags(write=False)
    return arr


def _promote_2d(value: Any) -> Any:
    """Read a single (X, n) reward table as a stack of one."""
    try:
        return np.asarray(value, dtype=np.float64)[None] if np.ndim(value) == 2 else value
    except (TypeError, ValueError):
        return value  # let _as_float_array report it with the field name


def _check_simplex(name: str, arr: np.ndarray, allow_zero: bool) -> None:
    neg = np.argwhere(arr < 0) if allow_zero else np.argwhere(arr <= 0)
    if neg.size:
        idx = tuple(int(i) for i in neg[0])
        need = ">= 0" if allow_zero else "> 0"
        raise ValueError(
            f"Problem.{name}: entry {idx} is {float(arr[idx])!r}; every entry must be {need} "
            f"({name} is a probability vector)."
        )
    total = float(arr.sum())
    if abs(total - 1.0) > SIMPLEX_SUM_ATOL:
        raise ValueError(
            f"Problem.{name}: entries sum to {total!r}, not 1 (tolerance {SIMPLEX_SUM_ATOL}); "
            f"normalise it: {name} / {name}.sum()."
        )


@dataclass(frozen=True, eq=False)
class Problem:
    """A validated, immutable, float64 instance of the constrained alignment problem.

    Parameters
    ----------
    rho : (X,) prompt weights, on the simplex, all > 0.
    pi_ref : (X, n) reference policy, rows on the simplex, all entries > 0.
    R_soft : (K, X, n) soft rewards; a (X, n) array is read as K = 1.
    w : (K,) soft weights on the simplex (>= 0).
    R_hard : (h, X, n) hard rewards with thresholds subtracted, h >= 1; (X, n) is read as h = 1.
    beta : KL weight, >= 0 (the paper needs > 0; 0 is opdcheck's LP extension).
    name : a label for reports.

    Examples
    --------
    >>> p = Problem(rho=[1.0], pi_ref=[[0.3, 0.7]], R_soft=[[1.0, 0.0]], w=[1.0],
    ...             R_hard=[[-0.7, 0.3]], beta=0.05, name="toy")
    >>> p.X, p.n, p.h, p.R_max
    (1, 2, 1, 1.0)
    """

    rho: np.ndarray
    pi_ref: np.ndarray
    R_soft: np.ndarray
    w: np.ndarray
    R_hard: np.ndarray
    beta: float
    name: str = "unnamed"
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        rho = _as_float_array("rho", self.rho, 1, "(X,)")
        pi_ref = _as_float_array("pi_ref", self.pi_ref, 2, "(X, n)")
        R_soft = _as_float_array("R_soft", _promote_2d(self.R_soft), 3, "(K, X, n)")
        if np.size(R_soft) == 0:
            raise ValueError("Problem.R_soft: empty; pass at least one soft reward table of shape (X, n).")
        R_hard = _as_float_array("R_hard", _promote_2d(self.R_hard), 3, "(h, X, n)")
        w = _as_float_array("w", self.w, 1, "(K,)")

        X, n = pi_ref.shape
        if X < 1 or n < 2:
            raise ValueError(
                f"Problem.pi_ref: shape {pi_ref.shape}; need at least one prompt and two responses (X >= 1, n >= 2)."
            )
        if rho.shape != (X,):
            raise ValueError(
                f"Problem.rho: shape {rho.shape} does not match pi_ref's X = {X}; pass one weight per prompt."
            )
        if R_soft.shape[1:] != (X, n):
            raise ValueError(
                f"Problem.R_soft: shape {R_soft.shape}, expected (K, {X}, {n}) to match pi_ref; "
                "stack one (X, n) reward table per soft objective."
            )
        if R_hard.shape[0] < 1:
            raise ValueError(
                "Problem.R_hard: no hard objective (h = 0); pass R_hard of shape (h, X, n) with h >= 1."
            )
        if R_hard.shape[1:] != (X, n):
            raise ValueError(
                f"Problem.R_hard: shape {R_hard.shape}, expected (h, {X}, {n}) to match pi_ref; "
                "stack one (X, n) reward table (threshold subtracted) per constraint."
            )
        if w.shape != (R_soft.shape[0],):
            raise ValueError(
                f"Problem.w: shape {w.shape}, expected ({R_soft.shape[0]},): one weight per soft objective."
            )
        _check_simplex("rho", rho, allow_zero=False)
        _check_simplex("w", w, allow_zero=True)
        zero = np.argwhere(pi_ref <= 0)
        if zero.size:
            idx = tuple(int(i) for i in zero[0])
            raise ValueError(
                f"Problem.pi_ref: entry {idx} is {float(pi_ref[idx])!r}; the reference policy must have full "
                "support (every entry > 0), otherwise KL(pi || pi_ref) is infinite off its support. "
                "Mix in a little uniform mass: (1 - e) pi_ref + e / n."
            )
        row_err = np.abs(pi_ref.sum(axis=1) - 1.0)
        if row_err.max() > SIMPLEX_SUM_ATOL:
            x = int(row_err.argmax())
            raise ValueError(
                f"Problem.pi_ref: row {x} sums to {float(pi_ref[x].sum())!r}, not 1 (tolerance "
                f"{SIMPLEX_SUM_ATOL}); normalise each row: pi_ref / pi_ref.sum(axis=1, keepdims=True)."
            )
        try:
            beta = float(self.beta)
        except (TypeError, ValueError):
            raise ValueError(f"Problem.beta: {self.beta!r} is not a number; pass a float >= 0.") from None
        if not np.isfinite(beta) or beta < 0:
            raise ValueError(
                f"Problem.beta: {beta!r}; the KL weight must be a finite float >= 0 "
                "(> 0 for the paper's theorems, 0 for the linear-program extension)."
            )
        if not isinstance(self.name, str):
            raise ValueError(f"Problem.name: {self.name!r:.80} is not a string; pass a one-line label.")
        import unicodedata

        bad_ch = next((ch for ch in self.name if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs")), None)
        if bad_ch is not None:
            raise ValueError(
                f"Problem.name: {self.name[:60]!r} contains the control character U+{ord(bad_ch):04X}; a name is a "
                "one-line label printed in reports (a newline could forge report lines). Fix: "
                "opdcheck.instances.sanitize_name(name)."
            )

        set_(self, "rho", rho)
        set_(self, "pi_ref", pi_ref)
        set_(self, "R_soft", R_soft)
        set_(self, "R_hard", R_hard)
        set_(self, "w", w)
        set_(self, "beta", beta)
        r = np.einsum("k,kxn->xn", w, R_soft)
        r.setflags(write=False)
        set_(self, "_r", r)
        log_ref = np.log(pi_ref)
        log_ref.setflags(write=False)
        set_(self, "_log_pi_ref", log_ref)

    # ----------------------------------------------------------------- derived
    @property
    def X(self) -> int:
        """Number of prompts."""
        return int(self.pi_ref.shape[0])

    @property
    def n(self) -> int:
        """Number of responses per prompt."""
        return int(self.pi_ref.shape[1])

    @property
    def h(self) -> int:
        """Number of hard objectives (constraints), |H|."""
        return int(self.R_hard.shape[0])

    @property
    def r(self) -> np.ndarray:
        """Weighted soft reward ``sum_k w_k R_soft[k]``, shape (X, n)."""
        return self._r  # type: ignore[attr-defined]

    @property
    def log_pi_ref(self) -> np.ndarray:
        return self._log_pi_ref  # type: ignore[attr-defined]

    @property
    def R_max(self) -> float:
        """``max |R_k[x, y]|`` over all soft and hard objectives."""
        return float(max(np.abs(self.R_soft).max(), np.abs(self.R_hard).max()))

    @property
    def p_min(self) -> float:
        """``min pi_ref[x, y]``."""
        return float(self.pi_ref.min())

    # -------------------------------------------------------------- functions
    def _policy(self, pi: np.ndarray) -> np.ndarray:
        pi = np.asarray(pi, dtype=np.float64)
        if pi.shape != (self.X, self.n):  # einsum would silently broadcast a size-1 axis
            raise ValueError(f"pi: shape {pi.shape}, expected ({self.X}, {self.n}) for problem {self.name!r}.")
        return pi

    def scores(self, lam: np.ndarray) -> np.ndarray:
        """``S_lam = r + sum_j lam_j R_hard[j]``, shape (X, n)."""
        lam = np.asarray(lam, dtype=np.float64)
        if lam.shape != (self.h,):
            raise ValueError(f"lam: shape {lam.shape}, expected ({self.h},): one multiplier per constraint.")
        # what np.tensordot(lam, R_hard, axes=(0, 0)) computes (the same dot, the same bits) without its
        # Python-level setup, which dominated the numpy reference's small steps (~30 us of ~45 per call)
        return self.r + np.dot(lam.reshape(1, self.h), self.R_hard.reshape(self.h, -1)).reshape(self.X, self.n)

    def constraint_values(self, pi: np.ndarray) -> np.ndarray:
        """``c_j(pi) = E_{rho, pi}[R_hard[j]]``, shape (h,). Feasible iff all >= 0."""
        return np.einsum("x,xn,jxn->j", self.rho, self._policy(pi), self.R_hard)

    def lagrangian(self, pi: np.ndarray, lam: np.ndarray) -> float:
        """``L(pi, lam)`` of §1 (KL with 0 log 0 = 0)."""
        from opdcheck.logspace import kl_rows

        pi = self._policy(pi)
        lin = np.einsum("x,xn,xn->", self.rho, pi, self.scores(lam))
        return float(lin - self.beta * np.dot(self.rho, kl_rows(pi, self.pi_ref)))

    def with_beta(self, beta: float) -> "Problem":
        """The same instance with another KL weight."""
        return Problem(self.rho, self.pi_ref, self.R_soft, self.w, self.R_hard, beta,
                       name=f"{self.name}[beta={beta:g}]", meta=dict(self.meta))

    def describe(self) -> str:
        return (f"{self.name}: X={self.X}, n={self.n}, h={self.h}, K={self.R_soft.shape[0]}, "
                f"beta={self.beta:g}, R_max={self.R_max:.4g}, p_min={self.p_min:.3g}")

    def __repr__(self) -> str:
        return f"Problem({self.describe()})"
