"""The independent replays: the only code that builds a :class:`Witness`.

A REFUTED verdict rests on a witness replayed apart from the code under suspicion. This package
solves the paper's defining problems in high precision by generic means (``solve.py``: Newton on
KKT conditions, bracketing root-finders, the dual function from its definition) or in exact
arithmetic, and imports nothing from ``opdcheck.kernels`` nor from the closed-form modules
(``theory.closed_forms``, ``numerics.kkt``, ``numerics.dual``): a bug in a closed form cannot be
confirmed by a replay that evaluates the same closed form.

* ``witness.py``  the immutable ``Witness`` (constructible only here);
* ``solve.py``    generic 50-digit solvers of (3), (4)/(6), (5)/(7);
* ``core.py``     Algorithm 2, the saddle point and the Thm 3.4 family's witnesses, lemma-B.5's;
* ``exact.py``    exact ``Fraction`` witnesses of the symbolic checks (Lemma B.4, B.2, the constants);
* ``orbit.py``    the multiplier orbit of a step-size-map run;
* ``alg3.py``     log-linear classes (Fisher matrix, natural direction, fixed points) and Cor 3.10's example;
* ``toy.py``      the paper's toy (Fig. 1) from its definition;
* ``certified.py`` witnesses resting on exact certificates (Schur-Cohn over QQ, 50-digit derivatives).
* ``lemma_b11.py`` the proof steps of Lemma B.11 / Cor. B.12 on the Cor 3.10 class, at 50 digits or exactly;
* ``readings.py`` the paper's other readings: Algorithm 2 with the printed closed form exp(S) against Thm 3.4's
  bound, and App. E's in-class duality gap by geometry.
"""
from opdcheck.numerics.replay.core import *  # noqa: F401,F403
from opdcheck.numerics.replay.core import __all__ as _core_all
from opdcheck.numerics.replay.witness import Witness

__all__ = list(_core_all) + ["Witness"]
