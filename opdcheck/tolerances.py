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

#: Dual Newton: a multiplier within this of 0 whose gradient pushes it out is held on the bound
#: (Bertsekas' eps-active set); the actual eps is min(this, ||projected gradient||), so it only
#: matters far from the solution and never moves lam*.
DUAL_NEWTON_ACTIVE_EPS = 1e-3

#: Dual Newton: Armijo sufficient-decrease fraction (the classical 1e-4: any value in (0, 1/2)
#: keeps superlinear convergence of Newton's full step).
DUAL_NEWTON_ARMIJO = 1e-4

#: Dual Newton: iteration budget. Newton from lam = 0 needs ~10-40 steps at beta = 1e-3 (D is
#: nearly piecewise linear there); 500 is generous and still cheap (h <= 8).
DUAL_NEWTON_MAX_ITER = 500

#: Dual Newton: when the line search stalls because D is flat to rounding (|Delta D| ~ 1e-16 |D|),
#: the point is accepted only if its projected gradient is below this: c(pi_lam) is a sum of X*n
#: products of O(R_max) numbers, so its rounding error is ~1e-13 for 1e7 terms; 1e-10 is 1000x that.
DUAL_NEWTON_STALL_GTOL = 1e-10

#: Slater: the LP margin xi = max_pi min_j c_j(pi) must exceed this to count as > 0. HiGHS solves
#: the LP to primal/dual feasibility 1e-10 (set in lp.py), so a computed xi below 1e-9 cannot be told
#: apart from 0 (and lam* would be ~1/xi, numerically meaningless).
SLATER_XI_ATOL = 1e-9

#: Clarabel settings for the exponential-cone primal (cvxpy route): duality-gap tolerance (abs and rel).
#: Measured: at 1e-12 Clarabel still ends "optimal" on random instances with beta in [1e-3, 10]; at
#: 1e-13 it often stops "almost solved" (the KKT solves hit double-precision noise). Its duals are then
#: accurate to ~1e-9..1e-8 absolute, amplified to pi by 1/beta and to lam by 1/lambda_min(hess D).
CLARABEL_TOL_GAP = 1e-12

#: Clarabel primal/dual feasibility tolerance: its residuals floor at ~1e-12 in double precision,
#: so 1e-12 often ends "almost solved"; 1e-10 is the tightest value that ends "optimal" reliably.
CLARABEL_TOL_FEAS = 1e-10

#: Raw Clarabel exponential-cone solution vs the exact saddle point, max abs difference on pi* and lam*.
#: Measured (tests/test_numerics.py, 20 instances + 40-instance slow sweep): raw pi off by up to ~2e-5,
#: raw lam by up to ~7e-7 (Clarabel's KKT solves hit double-precision noise; the error is amplified by
#: 1/beta in pi and 1/lambda_min(hess D) in lam). Used (a) to judge the raw route and (b) as the largest
#: move the KKT polish may make: a farther polished point is not "the same point, refined", and a sign
#: error in reading the duals (a move of 2 lam*, O(0.1..10)) is far above it.
CLARABEL_RAW_ATOL = 1e-4

#: KKT polish (numerics/kkt_polish.py): a constraint is polished as active when the solver's multiplier
#: exceeds this or its slack c_j(pi0) is below it. Clarabel's point is accurate to ~1e-6 in lam and c
#: while active multipliers are >= ~1e-3 and inactive slacks >= ~1e-3 on our instances; a wrong guess is
#: corrected by the active-set loop (drop lam_j < 0, add violated c_j).
POLISH_ACTIVE_TOL = 1e-6

#: KKT polish: Newton stops when the scaled residual max(|F1|/(1+max|S_lam|), |F2|, |F3|) is below this.
#: F1 is a difference of O(|S_lam|) numbers (rounding ~1e-16 relative), F2 a sum of n <= ~1e3
#: probabilities, F3 a sum of X n <= ~1e6 products rho p R: all round at <= ~1e-13; 1e-12 is above that
#: and gives pi, lam to ~1e-12 / lambda_min(Schur block), far below SADDLE_AGREEMENT_ATOL.
POLISH_KKT_ATOL = 1e-12

#: KKT polish: if the line search stalls (||F||^2 flat at rounding), the point is accepted only when its
#: scaled residual is below this (100x the rounding level of the largest instances); else PolishError.
POLISH_STALL_ATOL = 1e-10

#: KKT polish active-set test: a polished multiplier below -this is dropped, an inactive constraint
#: with c_j(pi) below -this is added. Above the rounding of lam and c after Newton (~1e-12), far below
#: any genuine multiplier or violation; a value in [-this, 0) is a degenerate pair, clipped to 0.
POLISH_SIGN_ATOL = 1e-9

#: KKT polish: Newton steps per active set (quadratic convergence from Clarabel's ~1e-6-accurate point
#: takes 2-5 steps; 50 allows for damping) and the cap on active-set changes (h <= 8 on our instances).
POLISH_MAX_ITER = 50
POLISH_MAX_ACTIVE_CHANGES = 10

#: Clarabel gap and feasibility tolerance of the last retry when its point only seeds the KKT polish
#: (solve_primal_cvxpy(polish=True)). Measured on 1e4-variable instances that end "almost solved" at
#: every tighter setting: at 1e-9 Clarabel reports "optimal" with pi within ~2e-6 of pi*, 50x inside
#: CLARABEL_RAW_ATOL (the polish's move guard); at 1e-7 the raw error reaches ~4e-4 and the guard
#: refuses. The final accuracy comes from the polish (KKT residuals ~1e-15), not from this setting.
CLARABEL_TOL_POLISH_START = 1e-9

#: beta = 0 (LP): two responses tie in S_{lam*}[x] when their scores differ by less than this; HiGHS
#: returns duals accurate to its 1e-10 optimality tolerance, times R_max = O(1) rewards, times h.
LP_TIE_ATOL = 1e-8

#: HiGHS primal/dual feasibility for the beta = 0 LP and the Slater LP: tighter than HiGHS's default 1e-7
#: so that lam* and xi are accurate to ~1e-10 (the LP data are O(R_max) = O(1)).
HIGHS_FEAS_TOL = 1e-10

#: Clarabel gap/feasibility for the prox-problem solve of opd-closed-form (numerics/prox_cvxpy.py): the
#: check separates the derived from the printed closed form, which differ by >= 4e-2; 1e-10 gives pi to
#: ~1e-6 (PROX_CVXPY_PI_ATOL = 1e-5), four orders inside that separation.
PROX_CLARABEL_TOL = 1e-10

# ---------------------------------------------------------------- kernels (iterations)
#: last_iterate_converges: the error over the last 20% of a run must fall below this fraction of its
#: maximum. A linearly converging run drops by many orders of magnitude; a limit cycle stays at O(1)
#: of its amplitude. 1e-6 separates the two with room for slow (rate ~0.99) but real convergence.
LAST_ITERATE_CONVERGED_RTOL = 1e-6

#: fit_tail_rate: errors at or below this absolute level are at the float64 floor (KL and ||.||^2
#: of iterates equal to the saddle point up to ~1e-8 in each coordinate) and are not used in a fit.
RATE_FIT_FLOOR_ABS = 1e-24

#: fit_tail_rate: fewer points than this give no rate (a 2-point "fit" is meaningless).
RATE_FIT_MIN_POINTS = 8

#: Early stop of long runs: stop once error_t <= this * error_0; below that the relative error of
#: the error itself (rounding in pi*, lam* ~1e-13..1e-15) dominates the measured value.
RUN_STOP_RTOL = 1e-13

#: Numba kernel vs numpy reference: the two compute the same floating-point operations in a
#: different order (fused loops vs vectorised, sequential vs pairwise sums), so iterates agree to
#: ~1e-15 and each metric sequence to ~1e-15..2e-13 of its own maximum over the run (a KL of 1e-20
#: between nearly equal iterates cannot be compared relatively: it inherits their 1e-15 rounding).
#: Test: |a_t - b_t| <= 1e-12 * max_t |a_t| per metric, and final iterates to 1e-12.
NUMBA_AGREEMENT_RTOL = 1e-12

#: Numba KL term (Taylor series of d + expm1(-d) for |d| <= 1) vs kl_rows_log's expm1 form: the
#: reference's d + expm1(-d) cancels to ~ulp(d) absolute, i.e. ~1e-16/|d| relative; at the smallest
#: d tested (1e-4) that is ~1e-12, so 1e-10 leaves margin and still catches any wrong coefficient.
NUMBA_KL_SERIES_RTOL = 1e-10

#: Numba log-softmax row vs log_softmax_rows, per unit of logit size L = max|z|: both round z to
#: ~1.1e-16 L absolute (the kernel multiplies by 1/(eta+beta), the reference divides), which is a
#: relative error of pi; measured <= 2.8 ulp x L, so 5e-16 x L (4.5 ulp) for pi, 1e-15 x L for log pi.
NUMBA_SOFTMAX_RTOL_PER_LOGIT = 5e-16

# ---------------------------------------------------------------- checks (verdicts)
#: Slack for comparing a measured error with a stated bound that can be attained exactly: floating
#: point rounding in KL and in the bound itself is ~1e-15 relative; we allow 1e-9 relative.
BOUND_RTOL = 1e-9

# ---------------------------------------------------------------- checks: thm-3.4 family
#: thm-3.4-lyapunov: steps where Phi_t is below this fraction of Phi_1 are not judged: Phi_t is a
#: sum of KLs and squared distances whose absolute rounding error is ~1e-16 * (size of the iterates'
#: coordinates)^2; at 1e-12 * Phi_1 the rounding is still < 1e-3 of Phi_t.
LYAPUNOV_PHI_FLOOR_RTOL = 1e-12

#: thm-3.4 family: an instance is "degenerate" (lam* possibly not unique, so ||lam* - lam_hat_t|| need
#: not go to 0 for the lam* a solver returns) when the dual Hessian restricted to the tight
#: constraints has smallest eigenvalue <= this * max(1, its largest). Generic instances have
#: ratios >= 1e-4; structurally rank-deficient ones (X (n-1) < h tight constraints) give ~1e-17.
LAMBDA_UNIQUE_EIG_RTOL = 1e-10

#: thm-3.4 family: a constraint is tight at pi* when |c_j(pi*)| <= this (the saddle point is solved
#: to a projected gradient of 1e-12; slack constraints have |c_j| >= ~1e-3 by construction).
TIGHT_CONSTRAINT_ATOL = 1e-8

#: thm-3.4-rate: the fitted tail rate may exceed rho of eq. (46) by max(this, the fit's spread)
#: (absolute) before the check calls it a violation. The spread (rates fitted on the two halves of
#: the window) is 1e-7..1e-3 on most instances tried, larger (up to ~7e-3) where a complex pair of
#: modes makes the error oscillate; the per-instance spread covers those, 1e-3 the rest.
THM34_RATE_ATOL = 1e-3

#: thm-3.4-rate (certified part): the measured tail rate of the error "agrees" with the certified
#: enclosure [lo^2, hi^2] of its asymptotic rate when it lies within max(this, the fit's spread)
#: (absolute) of it. The fit is a finite-window least-squares slope: sub-dominant modes and the
#: oscillation of a complex dominant pair bias it by 1e-6..3e-4 on the certified family; the
#: enclosure itself is exact (width <= 2e-6 after squaring), so it never decides agreement.
THM34_CERT_MATCH_ATOL = 1e-3

# ---------------------------------------------------------------- checks: eq3-best-response, dual-function, lemma-B.5
#: eq. (3) vs a cvxpy/Clarabel solve of max_pi L(pi, lam): max |pi difference|. Measured: Clarabel's
#: exponential-cone solution is accurate to ~1e-9..1e-6 in pi (worst at small beta, where pi is
#: nearly deterministic and the entropy's curvature flattens the objective); a wrong formula
#: (exp(S) without 1/beta) is off by 1e-2..1, three orders above this. Judged on rows weighted by
#: rho[x]/max(rho): Clarabel solves for q = rho pi, so a prompt of weight 1e-9 has a row it does not
#: determine (measured: raw error 1e-4 in pi on such a row, full profile); the first-order residual
#: (FOC_ATOL) still checks every row exactly.
BEST_RESPONSE_CVXPY_ATOL = 1e-5

#: eq. (3) must be the *maximiser*: L(pi_eq3, lam) >= L(pi_cvxpy, lam) - this. Both values are
#: float64 sums of X*n terms of size ~R_max, rounding ~1e-14; Clarabel's gap tolerance is 1e-12.
LAGRANGIAN_VALUE_ATOL = 1e-10

#: First-order optimality of eq. (3) within a prompt: S_lam - beta log(pi/pi_ref) must be constant in
#: y (it equals beta log Z_x). Computed from log pi in float64: rounding ~1e-15 |S_lam| << 1e-9.
FOC_ATOL = 1e-9

#: Central finite differences of D (gradient) and of grad D (Hessian), relative to max(1, |exact|):
#: step s = 1e-5 max(1, |lam|) gives truncation ~s^2 |D'''| ~ 1e-10 / beta^2 and rounding
#: ~1e-16 |D| / s ~ 1e-11; at beta >= 0.01 both stay below 1e-5.
FD_RTOL = 1e-5

#: Convexity of D on segments: D(t a + (1-t) b) <= t D(a) + (1-t) D(b) + this * (1 + |D|): the
#: values are float64 logsumexps, rounding ~1e-15 relative.
CONVEXITY_RTOL = 1e-12

#: Strong duality: D(lam*) - P(pi*) = lam* . c(pi_lam*) exactly, so with ||pg|| <= DUAL_NEWTON_GTOL the
#: gap is <= ||lam*||_1 * 1e-12 plus rounding of D and P (~1e-15 |D|); 1e-9 leaves 1000x room.
DUALITY_GAP_ATOL = 1e-9

#: Lemma B.5 "lam* > 0": a component counts as zero when it is below this. Dual Newton returns an
#: inactive multiplier as exactly 0.0 (projection); an active one is >= ~1e-3 on our instances.
LAMBDA_ZERO_ATOL = 1e-12

# ---------------------------------------------------------------- checks: rate-certificate
#: Width (absolute) of the certified spectral-radius enclosure [lo, hi] from exact Schur-Cohn
#: bisection. Exact arithmetic, so any width is sound; 1e-6 is 1000x below RATE_CERT_MATCH_RTOL, so
#: the enclosure's width never decides a verdict, and bisection stays at ~20 exact tests per factor.
RATE_CERT_ENCLOSURE_WIDTH = 1e-6

#: The measured tail rate must lie in [lo (1 - rtol), hi (1 + rtol)]. The measurement is a finite-T
#: least-squares fit of a geometric rate: sub-dominant modes (ratio rho_2/rho) bias the start of the
#: window, a complex dominant pair makes the error oscillate around the geometric trend (an O(1/L^2)
#: slope error for a window of L steps), and non-normal transients shift the intercept. On the
#: instances tried these give 1e-6..3e-4 relative; 1e-3 is the figure the issue fixed up front.
RATE_CERT_MATCH_RTOL = 1e-3

#: Tail-rate fit window for a converging run: start once the error (KL + ||lam - lam*||^2, a squared
#: quantity) has dropped by this factor from its start (sub-dominant modes have decayed) ...
RATE_CERT_BURN_IN = 1e-4

#: ... and stop before it reaches this absolute level: the float64 floor of KL and ||.||^2 is ~1e-31
#: (coordinates equal to the saddle point to ~3e-16), so 1e-27 keeps the floor below 1e-4 relative.
RATE_CERT_FIT_FLOOR = 1e-27

#: For a diverging run (started 1e-12 from the saddle point): stop the fit once the error exceeds
#: this; the iterate is then ~1e-4 from the saddle point and the neglected second-order terms of the
#: update change the per-step growth by ~1e-4 relative, an order below RATE_CERT_MATCH_RTOL.
RATE_CERT_LINEAR_CEILING = 1e-8

# ---------------------------------------------------------------- checks: symbolic audit (theory/)
#: cvxpy/Clarabel solve of the KL-prox problem (4)/(6) vs a closed form, max |pi difference|.
#: Clarabel's exponential-cone interior point at gap 1e-10 returns pi to ~1e-7..4e-6 (the entropy's
#: curvature 1/pi flattens the objective near the optimum); the printed (wrong) form is off by
#: 0.05..0.6 on the instances used, four orders of magnitude above this.
PROX_CVXPY_PI_ATOL = 1e-5

#: Pinsker on random draws: ||p-q||_1^2 <= 2 KL(p||q) + atol. KL is a sum of <= 50 float64 terms
#: p log(p/q) of size <= ~30 each, so its absolute rounding error is <= ~1e-13; 1e-12 covers it.
PINSKER_ATOL = 1e-12

#: Bilinear game: the measured per-step rate over the last 200 of 600 steps vs the exact spectral
#: radius. The finite window carries a bias from the next-slowest mode (singular values of a random
#: 6x6 A differ by ~1e-2, so its weight decays only like (rho_2/rho)^t); 5e-3 absolute covers it.
#: Informational: the verdict uses only growth > 1 vs contraction < 1.
BILINEAR_RATE_ATOL = 5e-3

#: Cross-check of the sympy eqs. (46)/(47), lambdified, against the numeric kernels implementation:
#: both evaluate the same few rational operations in float64, so they agree to ~1e-15 relative.
THM34_CROSSCHECK_RTOL = 1e-12

# ---------------------------------------------------------------- reliability: certificates, scaling, limits (issue 7)
# (names for the certificate-based judging, the scale-invariant saddle point and resource limits go here)

# ---------------------------------------------------------------- verification power: independent replay (issue 6, thm-3.4 family)
# (names for the high-precision replay of counterexamples and the positive controls go here)

# ---------------------------------------------------------------- verification power: sub-verdict checks (issue 6)
# (names for the findings of thm-3.4-constants, lemmas, bilinear-gda, dual-step-scale, lemma-B.5 go here)

# ---------------------------------------------------------------- Algorithm 3, parameterized policies (issue 8)
# (names for policy classes, natural-gradient steps, in-class saddle points, Cor 3.10 go here)

# ---------------------------------------------------------------- Algorithm 1, baselines and experiments (issue 9)
# (names for fig-1-toy, alg-1-unification, sec-4-stability, step-size-map go here)

# ---------------------------------------------------------------- fused Numba kernels (issue 10)
# (names for the coefficient-space kernel, the vectorised exp and their agreement tests go here)

# ---------------------------------------------------------------- corrected Thm 3.4, tightness, certify (issue 11)
# (names for theorem-tightness, thm-3.4-corrected and opdcheck certify go here)

#: ``opdcheck certify``: floats of the user's instance (pi*, R_H, rho, beta, steps) are rounded to the
#: nearest rational with denominator <= 1e12; pi* from dual Newton is accurate to ~1e-12 anyway, and the
#: spectral radius moves by about the rounding times the eigenvector conditioning (reported).
CERTIFY_MAX_DENOMINATOR = 10**12

#: Width of the certified radius enclosure in certify, theorem-tightness and thm-3.4-corrected. Exact
#: arithmetic, so any width is sound; 1e-9 resolves rates within 1e-6 of 1 and costs ~30 exact tests.
CERTIFY_ENCLOSURE_WIDTH = 1e-9

#: Strict complementarity: a constraint is active when lam*_j > this, slack when c_j(pi*) > this; both
#: within it is a degenerate active set (refused). Dual Newton returns lam* and c(pi*) to ~1e-12.
CERTIFY_STRICT_COMPLEMENTARITY_ATOL = 1e-8

#: Below this dimension certify also forms the full exact Jacobian (a cross-check of the mode
#: factorization); above it only the m x m curvature matrix is used (fast for thousands of pairs).
CERTIFY_FULL_JACOBIAN_MAX_DIM = 60

#: thm-3.4-corrected: the stated (formula) rate, evaluated in float from the eigenvalues of H and 30-digit
#: polynomial roots, may exceed the exact certificate's upper end by at most this (float eigenvalues of
#: an m x m matrix and the rounding of pi*: ~1e-12); above it the statement is broken.
CORRECTED_FORMULA_ATOL = 1e-9

#: thm-3.4-corrected / theorem-tightness: measured tail rate of the (squared) error vs the certified
#: r^2; the fit on a finite window carries sub-dominant-mode bias (see RATE_CERT_MATCH_RTOL), so a
#: disagreement beyond max(this, the fit's half-window spread) makes the case INCONCLUSIVE, never REFUTED.
CORRECTED_MEASURED_ATOL = 2e-3
