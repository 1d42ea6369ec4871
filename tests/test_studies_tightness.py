"""The tightness designs measured by the Numba kernel (thm-3.4-corrected) equal the numpy reference's measurement."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from opdcheck.paper_checks.checks import thm_3_4_corrected
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.studies import tightness
from opdcheck.tolerances import CORRECTED_MEASURED_ATOL


def _specs():
    ctx = CheckContext(profile="quick", seed=0)
    specs = thm_3_4_corrected.random_steps_specs(ctx.rng("test-tightness-compiled"), 3, 600)
    rng = ctx.rng("test-tightness-compiled/search")
    return specs + [dict(tightness.random_spec(rng), _T=400) for _ in range(2)]


def test_compiled_measurement_equals_the_numpy_reference():
    """Same certificate (exact, shared), measured tail rate equal far inside the gate that judges it: the kernel
    agrees with run_opd to NUMBA_AGREEMENT_RTOL per step, so the fitted rate moves in its last digits only."""
    for spec in _specs():
        ref, got = tightness.evaluate_spec(spec, 0), tightness.evaluate_spec_compiled(spec, 0)
        assert ref["ok"] == got["ok"]
        if not ref["ok"]:
            continue
        assert (ref["lo"], ref["hi"], ref["stable"]) == (got["lo"], got["hi"], got["stable"])
        a, b = ref["measured"], got["measured"]
        assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(1.0, abs(a)), (a, b)
        assert abs(a - b) < CORRECTED_MEASURED_ATOL / 1e4 or (math.isnan(a) and math.isnan(b))
        la, lb = ref["log10_bound_ratio"], got["log10_bound_ratio"]
        assert (np.isnan(la) and np.isnan(lb)) or abs(la - lb) <= 1e-9


def test_compiled_measurement_sees_a_wrong_run():
    """Negative control: a measurement that ignores the steps it is given (another design's steps) differs."""
    spec = next(s for s in _specs() if tightness.evaluate_spec(s, 0)["ok"] and "_steps" in s)
    et, el, dual = spec["_steps"]
    other = {**spec, "_steps": (str(Fraction(et) * 2), el, dual)}
    assert tightness.evaluate_spec_compiled(spec, 0)["measured"] != tightness.evaluate_spec_compiled(other, 0)["measured"]
