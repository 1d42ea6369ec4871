"""Every numerical tolerance opdcheck uses, in one place, each with its reason.

Rule: an absolute tolerance where the reference value is zero, a relative one otherwise.
A tolerance is never widened to make a check pass; if a check fails, the report says so.
Sections are owned by subsystems; add new names to the matching section.
"""

# ---------------------------------------------------------------- problem validation
#: |sum - 1| allowed for rho, w and rows of pi_ref. Data typed by hand or read from JSON with
#: ~12 significant digits sums to 1 within ~1e-12; 1e-9 still catches any real normalisation slip.
SIMPLEX_SUM_ATOL = 1e-9

# ---------------------------------------------------------------- numerics (saddle points)
#: Dual Newton stops when the projected-gradient norm is below this. D is smooth with Hessian of
#: size ~R_max^2/beta, so 1e-12 on the gradient gives lam* to ~1e-10 in well-conditioned cases.
DUAL_NEWTON_GTOL = 1e-12

#: The two saddle-point routes (dual Newton, cvxpy/Clarabel) must agree this closely on pi* and lam*
#: (issue 2): Clarabel's interior point reaches ~1e-9 relative gap at its tight settings.
SADDLE_AGREEMENT_ATOL = 1e-7

# ---------------------------------------------------------------- kernels (iterations)

# ---------------------------------------------------------------- checks (verdicts)
#: Slack for comparing a measured error with a stated bound that can be attained exactly: floating
#: point rounding in KL and in the bound itself is ~1e-15 relative; we allow 1e-9 relative.
BOUND_RTOL = 1e-9
