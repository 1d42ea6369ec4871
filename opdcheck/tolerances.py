"""Every numerical tolerance opdcheck uses, in one place, each with its reason.

Rule: an absolute tolerance where the reference value is zero, a relative one otherwise.
A tolerance is never widened to make a check pass; if a check fails, the report says so.
Sections are owned by subsystems; add new names to the matching section.
"""

# ---------------------------------------------------------------- problem validation
#: |sum - 1| allowed for rho, w and rows of pi_ref. Data typed by hand or read from JSON with
#: ~12 significant digits sums to 1 within ~1e-12; 1e-9 still catches any real normalisation slip.
SIMPLEX_SUM_ATOL = 1e-9

#: |sum - 1| allowed for the rows of a saddle point pi* handed to an OPD/PD driver (it only enters the metrics).
#: Dual Newton's pi* is a softmax (rows sum to 1 within ~1e-15), an interior-point pi* (cvxpy/Clarabel at its
#: default accuracy) within ~1e-8; 1e-6 accepts both and still refuses an unnormalised or wrong array.
SADDLE_ROW_SUM_ATOL = 1e-6

# ---------------------------------------------------------------- numerics (saddle points)
#: Dual Newton stops when the projected-gradient norm is below this (dimensionless: the
#: gradient c_j is measured in units of max|R_hard[j]|; see DUAL_NEWTON_XTOL for the step test that
#: must hold too). D is smooth with Hessian of size ~1/beta', so 1e-12 gives lam* to ~1e-10 when well conditioned.
DUAL_NEWTON_GTOL = 1e-12

#: The two saddle-point routes (dual Newton, cvxpy/Clarabel) must agree this closely on pi* and lam*:
#: Clarabel's interior point reaches ~1e-9 relative gap at its tight settings.
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
#: Measured (tests/test_numerics_saddle.py, 20 instances + 40-instance slow sweep): raw pi off by up to ~2e-5,
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
#: (CERT_FOC_ROUNDING_FACTOR) still checks every row exactly.
BEST_RESPONSE_CVXPY_ATOL = 1e-5

#: Central finite differences of D (gradient) and of grad D (Hessian), relative to max(1, |exact|):
#: step s = 1e-5 max(1, |lam|) gives truncation ~s^2 |D'''| ~ 1e-10 / beta^2 and rounding
#: ~1e-16 |D| / s ~ 1e-11; at beta >= 0.01 both stay below 1e-5.
FD_RTOL = 1e-5

#: Convexity of D on segments: D(t a + (1-t) b) <= t D(a) + (1-t) D(b) + this * (1 + |D|): the
#: values are float64 logsumexps, rounding ~1e-15 relative.
CONVEXITY_RTOL = 1e-12

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
#: It gates bilinear-gda's two rate findings (measured vs exact, with growth > 1 vs contraction < 1).
BILINEAR_RATE_ATOL = 5e-3

#: Cross-check of the sympy eqs. (46)/(47), lambdified, against the numeric kernels implementation:
#: both evaluate the same few rational operations in float64, so they agree to ~1e-15 relative.
THM34_CROSSCHECK_RTOL = 1e-12

# ---------------------------------------------------------------- reliability: certificates, scaling, limits
# (names for the certificate-based judging, the scale-invariant saddle point and resource limits go here)
#: Dual Newton (dimensionless units, numerics/dual.py): "converged" needs the remaining Newton step
#: ||H_FF^+ g_F||_inf below this times max(1, ||lam'||_inf). The gradient rounds at ~1e-15 and the
#: curvature of D' is Cov/beta' >= ~1e-6 on the instances we solve, so lam' is resolved to ~1e-9;
#: 1e-8 relative keeps lam* 10x inside SADDLE_AGREEMENT_ATOL and rejects a flat-D false stop
#: (toy at beta = 1e12: |grad D(0)| = 1e-13 passes any gradient gate, the step is 1).
DUAL_NEWTON_XTOL = 1e-8

#: Dual Newton certificate: eigenvalues of H_FF below this fraction of the largest are directions in
#: which D is flat to rounding (a duplicated constraint makes lam* non-unique): the pseudo-inverse
#: drops them, so a non-unique lam* is certified by its projected gradient alone in those directions.
DUAL_NEWTON_PINV_RCOND = 1e-10

#: Dual Newton: safety factor on the float64 rounding level of c(pi_lam), eps * (max|logit| + log2(X n) + 1)
#: (numerics/dual.py: gradient_rounding). 16 covers the few roundings per term (exp, product, sum).
DUAL_NEWTON_ROUNDING_FACTOR = 16.0

#: Dual Newton: a dimensionless multiplier above this means D is unbounded below (Slater fails):
#: lam' is bounded by (2/xi')(1 + beta' log(1/p_min)) (Lemma B.5), so 1e15 needs xi' < 1e-14.
DUAL_NEWTON_LAM_MAX = 1e15

#: Dual Newton certificate: ||H_FF^+||_inf x (rounding bound of the gradient) is how far lam* can be from
#: any computed lam because c(pi_lam) is only known to float64 rounding; "converged" needs it below
#: this times max(1, ||lam'||_inf). Measured on the toy (lam* = 1 exactly) for beta in 1e-6..1e7 (half
#: decades): |lam - lam*| <= 1.36 (newton_step + lam_resolution), and lam_resolution alone is 0.7x-180x the
#: error, so this is an estimate, not a bound; the gate is looser than DUAL_NEWTON_XTOL for that reason.
DUAL_NEWTON_RESOLUTION_RTOL = 1e-6

#: Certificates of "pi maximises L(., lam)" (numerics/certificates.py). First-order residual
#: max_y g - min_y g, g = S - beta log(pi/pi_ref): each g_y is a difference of numbers of size
#: max|S| + beta max|log pi| + beta max|log pi_ref|, rounded once each in log, product and
#: subtraction; 64 eps times that size allows for the few roundings (measured on eq. (3), quick and full
#: profiles: residual <= 0.015 x this gate) and is 6e13 below the residual of the printed formula
#: exp(S) without 1/beta on the toy at beta = 0.05.
CERT_FOC_ROUNDING_FACTOR = 64.0

#: Rounding of a float64 Lagrangian (or dual) value: factor x eps x (term size) x (1 + log2(X n)). numpy's
#: pairwise sum of X n terms errs by at most ~eps log2(X n) sum|terms| and each term adds ~3 eps |term|
#: (log, products), with sum|terms| <= term size; a difference of two values doubles it: 8 covers that
#: worst case. A value gap below minus this is a real decrease (the other point is feasible), and any
#: REFUTED from it is replayed at 50 digits; it also enters the reference's certified error eps.
CERT_VALUE_ROUNDING_FACTOR = 8.0

#: Digits of the mpmath replay that witnesses a REFUTED (the float64 evidence has ~16).
CERT_REPLAY_DIGITS = 50

#: load_problem: the largest uncompressed instance data it reads (sum of the needed .npz members from their
#: zip headers, or the .json file's size), checked before decompressing. 4 GB holds the largest instances
#: of the supported instance range (1e4 x 1e3 x 8 hard + 2 soft objectives in float64 = 0.8 GB) with room; an .npz whose members
#: would decompress to more is refused by name. Raise it with $OPDCHECK_MAX_INSTANCE_BYTES.
INSTANCE_MAX_BYTES = 4 * 10**9

#: Problem names (report labels): at most this many characters after sanitising (a name is a label, not data).
NAME_MAX_CHARS = 200


# ---------------------------------------------------------------- verification power: independent replay
# (names for the high-precision replay of counterexamples and the positive controls go here)

#: Working precision of the independent replay (opdcheck.numerics.replay): 50 significant digits,
#: 34 more than float64, so the replay's own rounding (~1e-50 per operation, a few thousand
#: operations per step) is invisible at every tolerance below.
REPLAY_DPS = 50

#: The 50-digit saddle point is certified when the projected gradient ||lam - [lam - grad D]_+||_inf
#: is below this. Newton converges quadratically from the float start (1e-12 away), so one or two
#: steps reach ~1e-45; 1e-40 is 24 orders below float64, so the float start alone cannot pass it.
REPLAY_NEWTON_PG_TOL = 1e-40

#: Below this projected gradient the 50-digit Newton takes full steps (no line search on D): a step
#: changes D by ~pg^2 / lambda_min(H), which at pg = 1e-20 is ~1e-40 relative and then falls below D's
#: own 50-digit resolution, so a decrease test would stall. The float start is already ~1e-12 away.
REPLAY_NEWTON_LOCAL = 1e-20

#: Replay vs the code under suspicion (error, bound, potential at the violating step): they agree when
#: |code - replay| <= REPLAY_AGREE_RTOL |replay| + REPLAY_AGREE_ATOL * scale (scale = error_0 or Phi_1).
#: The float64 run is a contraction, so rounding does not grow: its iterates match the replay to
#: ~1e-15, its KL values to ~1e-15 relative where KL >> 1e-15 and to ~1e-16 absolute where KL is
#: near zero (cancellation in sum p log(p/q)). 1e-8 relative is 7 orders above that and 5 orders
#: below the smallest planted bug (lambda* off by 0.1 % moves ||lam*-lam_hat_1||^2 by ~1e-3 relative).
REPLAY_AGREE_RTOL = 1e-8

#: ... and the absolute part, per unit of the scale: the float floor of KL (1e-16) with 1000x room.
REPLAY_AGREE_ATOL = 1e-13

#: Largest replay, in X * n * h * steps mp-operations (about 20 us each at 50 digits): 2e5 is a few
#: seconds. A counterexample larger than this is not replayed (witness replayed=False -> INCONCLUSIVE).
REPLAY_MAX_WORK = 200_000

#: thm-3.4-rate: the replayed tail rate (least squares on the same window, 50 digits) vs the float
#: fit. Both fit the same geometric slope, but the window ends near the float floor (error ~1e-27),
#: where the float errors carry ~1e-8..1e-6 relative noise; measured on the toy at beta = 1 (prox,
#: window 192-383): |code - replay| = 7e-9. 1e-6 leaves 100x room and is 1000x below THM34_RATE_ATOL.
REPLAY_RATE_ATOL = 1e-6

#: lemma-B.5: the Slater margin the LP solver reports vs its value at the solver's own point,
#: ``min_j c_j(pi_bar)`` replayed at 50 digits (and the row sums of pi_bar, and the bound recomputed from
#: it). The LP (HiGHS) meets its constraints to ~1e-9; 1e-7 relative leaves 100x room and is far below
#: any error in the margin's unit (a factor R_max = 1.2..1.8 on the check's instances).
SLATER_REPLAY_RTOL = 1e-7

#: Steps of the positive controls' bound/potential check (paper toy at beta = 0.05 and the all-slack
#: toy): enough for the error to reach the float floor (rate <= 0.8 per step: 1e-27 after ~300 steps).
CONTROL_STEPS = 400

# ---------------------------------------------------------------- verification power: sub-verdict checks
# (names for the findings of thm-3.4-constants, lemmas, bilinear-gda, dual-step-scale, lemma-B.5 go here)

#: Positive control of the Pinsker draws (lemmas-B.2-B.4-B.8): the test has power only if some draw is
#: near-tight, i.e. max ||p-q||_1^2 / (2 KL) close to 1 (the symmetric pairs around 1/2 give
#: 1 - O(1e-5)); 0.99 leaves room for the seed and is far above what loose draws give (~0.5).
PINSKER_TIGHT_RATIO = 0.99

#: opd-closed-form control: the kernel's derived primal step (log-softmax of a log-space mix) vs the
#: lambdified sympy closed form (a product of powers and an exp, normalised), max |pi difference|.
#: Both are a handful of float64 operations on O(1) numbers (scores |S| <= ~10 on the instances used,
#: so exp(S/(eta+beta)) stays far from overflow): ~1e-15 in pi; 1e-12 leaves margin, and any real
#: formula difference (a missing 1/(eta+beta)) is >= 1e-2.
CLOSED_FORM_KERNEL_ATOL = 1e-12

#: dual-step-scale: two OPD runs on the toy whose dual steps are equal give policies equal to float64
#: rounding (~1e-16; the step factors 1/(2 eta) and the lambdified 1/(2 eta) round alike); the
#: factor-2 mismatch gives differences ~1e-2. Also the slack of the minimiser test of (5)/(7):
#: q(lam) - q(lam +- 1e-3) is exactly -eta 1e-6 <= 0 at the minimiser, up to ~1e-16 rounding.
DUAL_STEP_POLICY_ATOL = 1e-12

#: bilinear-gda: the step (alpha sigma_max) of the run that must diverge under optimism, beyond the
#: exact threshold 1/sqrt(3) ~ 0.577 with margin (exact radius there ~1.06 per step, so 600 steps grow
#: by ~1e15, far from overflow, and the window rate is sharp). Not a tolerance: a test point.
BILINEAR_UNSTABLE_S = 0.7

# ---------------------------------------------------------------- Algorithm 3, parameterized policies
#: Pseudo-inverse of the Fisher matrix: eigenvalues below this fraction of the largest are treated as
#: zero. Exact null directions (per-prompt constant shifts of a tabular softmax, duplicated features)
#: come out of eigh at ~1e-16 * ||F|| * d; genuine small curvature on the instances used is >= 1e-8
#: relative (policies bounded away from 1e-8), so 1e-10 separates the two with margin on both sides.
ALG3_PINV_RCOND = 1e-10

#: theta_hat_0 must lie in Theta: allowed distance to its projection (float64 rounding of a clip / a
#: radial scaling is ~1e-16 relative; 1e-12 leaves room for user-supplied points on the boundary).
ALG3_THETA0_ATOL = 1e-12

#: Remark 3.5: max |pi_hat^Alg3 - pi_hat^Alg2| over >= 200 steps (the issue's figure). Both runs apply the
#: same closed form in different coordinates (logits + pinv vs the log-space mirror step); their
#: difference accumulates ~1e-15 per step, so 200-2000 steps stay ~1e-13, three orders below.
REMARK35_POLICY_ATOL = 1e-10

#: pinv vs least-squares natural-gradient directions, max |w_pinv - w_lstsq| / max(1, |w|): two
#: backward-stable solvers of the same (possibly rank-deficient) normal equations agree to
#: cond(F_range) * 1e-16; on the instances used cond <= 1e6, so 1e-8 relative.
ALG3_DIRECTION_RTOL = 1e-8

#: Sec. 3.2.1's display (the issue's "eq. (72)", a block number) by finite differences: |KL(pi_theta || pi_theta+s*v) - s^2/2 v^T F v| / (s^2/2 v^T F v) is
#: O(s) (third-order Taylor term); at s = 1e-3 the measured ratios are <= ~5e-3, so 2e-2 relative, and
#: the ratio must shrink by >= 5x when s shrinks 10x (the O(s) signature, not a coincidence).
EQ72_FD_STEP = 1e-3
EQ72_FD_RTOL = 2e-2

#: Gradients only at theta_hat_t: the recorded linearisation points must equal the driver's state
#: exactly (same float64 array passed through), so the tolerance is 0 up to copying: 1e-15 absolute.
ALG3_ANCHOR_ATOL = 1e-15

#: In-class saddle point: KKT residuals (stationarity of the inner max by the projected-gradient norm,
#: feasibility, complementarity) from L-BFGS-B/SLSQP at gtol 1e-12; the residuals reached are ~1e-9;
#: 1e-6 accepts them and rejects a wrong multiplier (off by >= 1e-4 on the instances used).
IN_CLASS_KKT_ATOL = 1e-6

#: In-class vs distributional saddle point when the class is tabular (Theta = R^{Xn}): both are
#: certified to ~1e-7 (dual Newton to 1e-10, in-class to IN_CLASS_KKT_ATOL), so max |pi difference| <= 1e-5.
IN_CLASS_TABULAR_ATOL = 1e-5

#: Convergence of Algorithm 3 to the in-class saddle point: error (KL + ||lam - lam*||^2) at the end
#: relative to the start. The in-class reference is accurate to ~1e-9 in pi (KKT ~1e-9, KL quadratic
#: so ~1e-16 in error), so a final error below 1e-8 x error_0 is a decision the reference can make.
ALG3_CONVERGED_RTOL = 1e-8

#: Counterexample replay (mpmath, 50 digits) vs the kernel's float64 numbers: the kernel computes the
#: KL of two-point distributions and the bound with a few dozen roundings, 1e-12 relative covers it.
COUNTEREX_AGREE_RTOL = 1e-12

#: Lemma B.11's step "E|<log(pi_new/pi_theta), pi_theta - pi'>| <= (1 + 1/p_min) KL(pi_theta||pi_new)":
#: a step is judged failing when the left side exceeds the right by more than this absolute margin
#: (the sides are sums of <= 50 float64 terms of size <= 10: rounding <= 1e-13). Witnesses are then
#: replayed with exact Fractions/mpmath.
LEMMA_B11_ATOL = 1e-12

#: alg-3-npg: an active-projection limit counts as a fixed point of the Alg. 3 map when the 50-digit replay
#: moves theta_T by at most this (the float run stops moving at ~1e-16; a non-fixed point moves by >= 1e-6),
#: and the float run's tail has stopped when its spread over the last window is below ALG3_TAIL_SPREAD_ATOL
#: (~100 ulp of the O(1) error: rounding only, no oscillation).
ALG3_FIXED_POINT_ATOL = 1e-9
ALG3_TAIL_SPREAD_ATOL = 1e-12

#: cor-3.10-counterexample: the error "stays" when it varies by at most this, relative, along the run
#: (theta never moves, so the error is recomputed from the same policy: ~ulp of its O(1e-2) value).
COUNTEREX_STAYS_RTOL = 1e-14

#: remark-3.5: the tabular Fisher of policies.TabularSoftmax vs the closed form E_x[diag(pi_x) - pi_x pi_x^T]:
#: both sum a few products of probabilities <= 1, so they agree to ~1e-17; 1e-14 is 100x above that and
#: far below any wrong entry (a missing rho or centring changes entries by >= 1e-3).
REMARK35_FISHER_ATOL = 1e-14

# ---------------------------------------------------------------- Algorithm 1, baselines and experiments
# (names for fig-1-toy, alg-1-unification, sec-4-stability, step-size-map go here)

#: fig-1-toy / alg-1-unification: the error e_t = KL + ||lam - lam*||^2 is quadratic in the deviation, so
#: its per-step rate is the square of the spectral radius of the linearised map. A least-squares fit over
#: the tail of a finite run carries the bias of the next-slowest mode and of the nonlinear terms (here
#: ~1e-4 on the toy); 2e-3 absolute on r_measured vs radius^2 covers it without letting a different
#: mode (the toy's modes differ by > 3e-2 in radius^2) pass.
ALG1_RATE_ATOL = 2e-3

#: fig-1-toy: the float64 driver vs the independent mpmath (50 digits) replay of the same steps, compared
#: on error values above ALG1_REPLAY_FLOOR. Contracting maps keep float rounding at ~1e-15 relative per
#: step; over <= 2000 steps of a map with radius < 1 the accumulated relative drift stays below ~1e-12.
#: 1e-8 leaves room and still separates a different method (whose errors differ at O(1) relative).
ALG1_REPLAY_RTOL = 1e-8
#: below this absolute error the comparison is not made: the float64 iterate carries an absolute rounding
#: ~1e-16 (times a modest accumulation), and e ~ deviation^2, so e's relative accuracy is ~1e-16/sqrt(e)
#: (measured 1.4e-8 at e = 1e-14 on the toy); above 1e-10 that is ~1e-11, well inside ALG1_REPLAY_RTOL.
ALG1_REPLAY_FLOOR = 1e-10

#: alg-1-unification: one-shot and exact multi-shot must reach the exact saddle point to this (max-abs
#: on pi and lam) -- the issue's 1e-7. Both are linearly convergent; the dual Newton reference is
#: accurate to ~1e-12 (cross-checked against Clarabel at SADDLE_AGREEMENT_ATOL elsewhere).
ALG1_SADDLE_ATOL = 1e-7

#: step-size-map / alg-1-unification: a run "converged" when its final error is below this fraction of
#: its initial error (distinguishes linear convergence from cycles, which keep e_T/e_0 ~ 1e-2..1).
ALG1_CONVERGED_RATIO = 1e-6

#: step-size-map: a grid cell is compared with the exact certificate only when the certificate is decisive
#: within the horizon: radius^(2T) < ALG1_CONVERGED_RATIO / 1e3 (should converge) or radius > 1 + margin.
#: Cells closer to the boundary cannot be decided by T steps and are reported, not judged.
ALG1_CERT_MARGIN = 1e-3

#: sec-4-stability: a seed ends feasible when every exact constraint value at the last iterate is >=
#: -this. The dual rule only sees the sampled estimate of c from N responses per prompt, whose standard
#: error is ~std(R_H)/sqrt(N X) (measured 0.05 per batch at pi_ref, N = 16, X = 8); a method whose
#: multiplier has converged therefore hovers within about one such error of c = 0. 3e-2 is stricter than
#: that one standard error (so it cannot hide a systematic violation of that size).
SEC4_FEASIBLE_ATOL = 3e-2

#: sec-4-stability: with exact expectations, the multiplier "oscillates" when its range over the last quarter
#: of the run exceeds this fraction of lam*: a transient at dual step 0.5 spans ~8% of lam* over steps
#: 450-600 and the late drift of the slow primal ~3% (measured over 1600 steps), so 5e-2 calls the former
#: oscillating and the latter not. In the sampled
#: runs noise alone spreads lam by ~13% of lam* (measured), so this threshold cannot tell noise from a cycle
#: there: the sampled comparison is reported, and the premise and the damping finding use exact expectations.
SEC4_OSCILLATION_MIN = 5e-2

#: sec-4-stability, exact expectations: "settled" = within this fraction of lam* to the end of the run. The
#: slow primal (tabular PG on rare responses) keeps moving the multiplier by ~2-3% of lam* late in the run
#: (measured between t = 1200 and 1600), so a band tighter than that would never call a run settled.
SEC4_SETTLE_BAND_EXACT = 5e-2

#: step-size-map control: the per-mode radius vs the full-Jacobian certificate (width 1e-5) at Thm 3.4's
#: step: both are exact enclosures of one radius, so their midpoints differ by at most the two widths (2e-5).
SSM_CERT_CROSSCHECK_ATOL = 2e-5

#: step-size-map, local probe: a certified-stable cell whose run from (pi_ref, lam = 0) never entered the
#: linear regime (its smallest error stayed above RATE_CERT_LINEAR_CEILING) is judged by a second run started
#: this close to the saddle point (relative perturbation of the logits and of lam*). The error is then
#: ~1e-12, four decades inside the linear ceiling, so the second-order terms of the update (relative size
#: ~ the deviation, 1e-6) change the per-step rate far below RATE_CERT_MATCH_RTOL, and the fit window
#: (RATE_CERT_BURN_IN below e_0 down to RATE_CERT_FIT_FLOOR) still spans 11 decades of float64 error.
SSM_LOCAL_PROBE_DEVIATION = 1e-6

#: step-size-map, describing a run that settled on a periodic orbit (reporting only, not a verdict): the
#: smallest period P <= 60 with max |lam_{t+P} - lam_t| <= this over the last quarter of the run. A run that
#: has settled on an attracting orbit repeats to near float rounding (measured on the full grid, lam ~ 1:
#: closure 9e-17 on the period-4 cell at beta = 0.1, 3e-15 on a period-6 cell at beta = 0.01), one still
#: approaching its orbit does not (1.4e-8 at T = 1000 on the other beta = 0.01 cell), so 1e-9 separates a
#: closed orbit from a still-drifting run; the report then gives the best period and its closure instead.
SSM_CYCLE_CLOSURE_ATOL = 1e-9

# ---------------------------------------------------------------- fused Numba kernels
#: kernels.fastexp vs numpy.exp (libm), normal results: Cody-Waite reduction (|r| <= ln2/2, error
#: ~2^-70 from LN2_LO), degree-11 Chebyshev fit (1.6e-17 relative with float64 coefficients), evaluated as
#: 1 + (r + r^2 q(r)) in float64 (FMAs: 1/2 ulp for the inner sum, 1/2 for the last addition) and two exact
#: power-of-2 scalings; measured max 1.0 ulp on 6.7e5 points of [-746, 709.78] (mean 0.1). Subnormal
#: results are compared absolutely (one subnormal spacing, 2^-1074).
FASTEXP_MAX_ULP = 1.0

#: kernels.numba_fused vs the numpy reference: the same criterion and reason as NUMBA_AGREEMENT_RTOL
#: (|a_t - b_t| <= rtol max_t |a_t| per metric; final iterates absolutely). The coefficient form changes
#: only the rounding of the logits (a L + b r + c R instead of the mixed log-policy), ~1e-16 x logit size.
FUSED_AGREEMENT_RTOL = NUMBA_AGREEMENT_RTOL

#: Algorithm 3 log-linear step, Numba one-pass kernel (kernels/numba_alg3.py) vs the numpy/BLAS reference:
#: grad L and F are the same sums in another order (blocked prompt sums, dot products over y vs gemm; F from
#: the centred score vs raw moment minus mean outer product), ~1e-16..6e-15 relative each (measured on the
#: test instances; 6.7e-16 at X n = 1e6, d = 64); w = F^+ g amplifies that by cond(F on its range), <= 60 on
#: the instances tested (w measured <= 5.4e-14, the extreme beta = 1e-3, R_max = 100, p_min = 1e-12 case).
#: Not for near-deterministic policies: at min pi ~ 1e-54, cond(F) = 1.6e5, w agrees only to ~1e-9 (the
#: reference's F cancels; the kernel's is the more accurate against a 50-digit replay).
#: Test: max|a - b| <= 1e-12 max|b| for g, F, w and the projected step.
NUMBA_ALG3_AGREEMENT_RTOL = 1e-12

# ---------------------------------------------------------------- corrected Thm 3.4, tightness, certify
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

# ---------------------------------------------------------------- reliability (second pass)
#: A saddle point is called solved only when it satisfies its own certificate at the problem's scale:
#: primal infeasibility max_j max(0, -c_j(pi*)) / max|R_hard[j]|, complementarity
#: max_j lam*_j |c_j(pi*)| / R_max and the simplex residual at most this. A certified dual Newton
#: point on the paper's toy has all three at ~1e-16; at beta / R_max = 1e-8 (D nearly piecewise linear)
#: ~1e-9; the failures this catches are O(1) (lam* = 0 with c = -0.7 when D's gradient cannot be
#: resolved at beta = 1e-16, or rewards of 1e200 that overflow the Hessian).
SADDLE_RESULT_RTOL = 1e-6

#: ``opdcheck certify --bilinear``: the largest square A certified by default. The exact fraction-free
#: elimination of A^T A - s I (about 20 of them to bracket sigma_min^2) costs O(k^3) operations on
#: integers of O(k) words; measured on a loaded 2-core box (8 processes on 2 cores): 0.2 s at k = 20,
#: 7.5 s at k = 40, 55 s at k = 64 (the former Fraction elimination: 24 s at k = 40, > 300 s at k = 200).
#: 32 keeps the default answer within seconds. Not a tolerance of a result: a bound on waiting; raise with --max-dim.
CERTIFY_BILINEAR_MAX_DIM = 32

# ---------------------------------------------------------------- readings of the paper (verdicts branch)
#: Proj_Theta read in the metric of F(theta_hat_t): F is rank-deficient on the log-linear class, so this ridge
#: (relative to the largest entry of F) makes the metric definite; it perturbs the projection along range(F) by about
#: this relative amount, far below the 1e-9 KKT tolerance the limits are judged with.
FISHER_PROJECTION_RIDGE = 1e-8

#: app-E-strong-duality: a duality gap below this is not a gap (the float computation's theta grid has spacing 5e-5 and
#: the functions are smooth, so grid errors are ~1e-8; the counterexample's gap is 0.34).
IN_CLASS_GAP_ATOL = 1e-3
#: app-E-strong-duality: the float grid computation and the 50-digit geometric one must agree to this (grid error of the
#: float side, ~1e-8, with margin for the golden-section dual minimisation).
IN_CLASS_AGREE_ATOL = 1e-4

#: thm-3.4 (existential reading): the replayed tail rate must exceed rho(46) by this much to confirm the violation; the
#: certified gap on the witness instance is ~0.17, and a 300-step least-squares fit is accurate to ~1e-6.
EXISTENTIAL_RATE_SLACK = 0.05

# ---------------------------------------------------------------- recorded baseline and gate controls (trust)
#: baseline.json key numbers (a check's or a finding's scalar ``computed``) vs a new run, relative. A run is
#: deterministic for a seed (same bits on one machine); across machines BLAS/libm ordering moves the last
#: few digits of a sum of ~1e4 terms and iterated maps amplify that by at most ~1e3 over the quick horizons,
#: so ~1e-12 becomes ~1e-9; 1e-6 is far above that and far below any change a real bug makes to a rate.
BASELINE_NUMBER_RTOL = 1e-6

#: A gate's runtime negative control perturbs the certified point until the gate's own residual is this many
#: times the gate's tolerance: far enough beyond it that rounding cannot bring it back under, near enough
#: (same order of magnitude) that a gate loosened by 10x or more lets the perturbed point through.
GATE_CONTROL_FACTOR = 4.0

#: The largest a rounding-level gate may be, in units of eps x (term size): a first-order residual is a
#: difference of terms rounded a handful of times (log, product, subtraction), and even a sum of 1e6
#: such terms rounds within ~20 eps x size; 1024 leaves a 16x margin over CERT_FOC_ROUNDING_FACTOR and is
#: still ~1e10 below any residual a wrong formula leaves. A gate above it is not a rounding gate.
FOC_GATE_MAX_ROUNDINGS = 1024.0

#: sec-4-stability, neural study: a seed ends feasible when its last iterate's expected cost (estimated from
#: N_EVAL = 4096 fresh responses) is <= d + this. A per-response cost lies in [0, 1], so the estimate's standard
#: error is <= 0.5/sqrt(4096) = 0.0078; 0.025 is about three such errors, so sampling noise alone almost
#: never turns a seed sitting exactly at the limit infeasible, while a violation of 0.03 (a quarter of the
#: prototype's 0.138 vs 0.1) is still caught.
NEURAL_FEASIBLE_ATOL = 2.5e-2

#: sec-4-stability, neural study: the multiplier "oscillates" when log10(lam) spans more than this many
#: decades over the last quarter of training. With the primal noise of a 64-response batch a stable
#: rule's lam wanders by 0.02-0.07 decades (measured, quick LM, scale x1, 10 seeds); one decade is a factor of
#: 10 in the penalty, far beyond noise.
NEURAL_OSCILLATION_DECADES = 1.0

#: alg-3-neural: the natural-gradient solve F x = grad L counts as solved when CG's relative residual
#: ||F x - grad L|| / ||grad L|| is below this over the whole run. The direction then carries a relative error of
#: about this size in the range of F, far below the O(1) effects the findings compare (KL to the saddle point
#: spanning decades across widths); above it the run's direction is not the one eqs. (8)/(10) define, and the
#: findings are held back. Measured: quick widths 2 and 8 reach 5e-5 and 3e-8; width 4 of the full profile stops at
#: 1.007e-3 after CG's 500 iterations (a near-singular Fisher matrix), so that control fails there.
NEURAL_CG_RTOL = 1e-3

#: sec-4-stability, neural study: "competitive in reward" = the median paired reward difference (OPD rule
#: minus the baseline) is >= -this. Rewards lie in [0, 1]; the paper gives no number for "competitive", so
#: this is a stated reading (5% of the reward scale), not a measured quantity; the report gives the p-value and
#: the effect size beside it.
NEURAL_REWARD_MARGIN = 5e-2

#: sec-4-stability, paired tests (Wilcoxon signed-rank, exact McNemar): the two-sided level at which a
#: paired difference counts as shown. Conventional 5%; the check reports the p-values themselves.
PAIRED_TEST_ALPHA = 5e-2
