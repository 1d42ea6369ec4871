"""The audit of opdcheck/tolerances.py, made a test: every named constant is classified, and every gate names the
control or test that exercises it.

Classes:

* ``gate``: a comparison whose outcome decides a finding's verdict, a certificate, a control, or a
  "converged"/"solved" status;
* ``solver``: an iteration parameter or stopping rule whose failure is caught downstream (the reference names
  where);
* ``limit``: a size, memory, time or input-validation bound;
* ``alias``: another name for a constant defined above it;
* ``report``: a comparison that is only reported (decides no verdict, control or status);
* ``unused``: defined but referenced nowhere in the package (kept for its reason; the test fails when it gets
  used, so that it is classified then).

``ref`` is ``"module:function"`` (imported) or ``"tests/file.py::test_name"`` (the test must exist). ``own``
(gates only) says whether the referenced control perturbs a point to GATE_CONTROL_FACTOR x the tolerance and
1/GATE_CONTROL_FACTOR of it (a negative control at the gate's own scale); ``GATES_WITHOUT_OWN_SCALE_CONTROL``
lists the others explicitly, so the list can only shrink deliberately.
"""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOL = "opdcheck.paper_checks.studies.tolerance_controls"
GATE = "opdcheck.paper_checks.studies.gate_controls"


class E(NamedTuple):
    cls: str
    where: str
    ref: str = ""
    own: bool = False


AUDIT: dict[str, E] = {
    # ---------------------------------------------------------------- problem validation
    "SIMPLEX_SUM_ATOL": E("limit", "problem.py: Problem validation of rho, w, pi_ref rows",
                          "tests/test_problem.py::test_pi_ref_rows_and_support"),
    "SADDLE_ROW_SUM_ATOL": E("limit", "kernels/opd.py: validation of the rows of a saddle point pi* given to a driver",
                             "tests/test_kernels_run_inputs.py::test_a_saddle_point_that_is_not_one_is_refused_by_every_driver"),
    # ---------------------------------------------------------------- saddle points
    "DUAL_NEWTON_GTOL": E("gate", "numerics/dual.py: dual Newton 'converged' (projected gradient); dual-function KKT gate",
                          f"{GATE}:kkt_gate_controls", True),
    "SADDLE_AGREEMENT_ATOL": E("gate", "numerics/saddle.py cross-check of dual Newton vs Clarabel; dual-function multiplier finding "
                               "(multipliers_agree, reference_certified)", f"{TOL}:multiplier_gate_controls", True),
    "DUAL_NEWTON_ACTIVE_EPS": E("solver", "numerics/dual.py eps-active set; caught by the projected-gradient certificate",
                                "tests/test_numerics_own_certificate.py::test_a_point_that_fails_its_own_certificate_is_not_converged"),
    "DUAL_NEWTON_ARMIJO": E("solver", "numerics/dual.py line search; caught by the dual Newton certificate",
                            "tests/test_numerics_own_certificate.py::test_a_true_saddle_point_passes_it"),
    "DUAL_NEWTON_MAX_ITER": E("limit", "numerics/dual.py iteration budget (not converged -> SolverError)"),
    "SLATER_XI_ATOL": E("gate", "numerics/lp.py slater_margin_positive (require_slater, saddle.slater_certificate): Slater margin > 0", f"{TOL}:slater_gate_controls", True),
    "CLARABEL_TOL_GAP": E("solver", "numerics/primal_cvxpy.py; caught by CLARABEL_RAW_ATOL and the cross-check",
                          "tests/test_numerics_saddle.py::test_raw_clarabel_solution_within_raw_tolerance"),
    "CLARABEL_TOL_FEAS": E("solver", "numerics/primal_cvxpy.py; caught by CLARABEL_RAW_ATOL and the cross-check",
                           "tests/test_numerics_saddle.py::test_raw_clarabel_solution_within_raw_tolerance"),
    "CLARABEL_RAW_ATOL": E("gate", "numerics/saddle.py raw route judged; kkt_polish.py move guard",
                           "tests/test_tolerances_last_gates.py::test_clarabel_raw_agreement_gate", True),
    "POLISH_ACTIVE_TOL": E("solver", "numerics/kkt_polish.py initial active set; corrected by the active-set loop",
                           "tests/test_numerics_saddle.py::test_polish_active_set_correction"),
    "POLISH_KKT_ATOL": E("gate", "numerics/kkt_polish.py 'converged'; dual-function",
                         "tests/test_tolerances_last_gates.py::test_kkt_polish_status_gates", True),
    "POLISH_STALL_ATOL": E("gate", "numerics/kkt_polish.py acceptance on a stalled line search",
                           "tests/test_tolerances_last_gates.py::test_kkt_polish_status_gates", True),
    "POLISH_SIGN_ATOL": E("solver", "numerics/kkt_polish.py active-set changes; caught by POLISH_KKT_ATOL",
                          "tests/test_numerics_saddle.py::test_polish_active_set_correction"),
    "POLISH_MAX_ITER": E("limit", "numerics/kkt_polish.py Newton steps per active set"),
    "POLISH_MAX_ACTIVE_CHANGES": E("limit", "numerics/kkt_polish.py active-set changes"),
    "CLARABEL_TOL_POLISH_START": E("solver", "numerics/primal_cvxpy.py seed of the polish; caught by CLARABEL_RAW_ATOL",
                                   "tests/test_numerics_saddle.py::test_cross_check_on_instances_with_1e4_variables"),
    "LP_TIE_ATOL": E("solver", "numerics/lp.py beta = 0 support ties; caught by the saddle certificate",
                     "tests/test_numerics_saddle.py::test_lp_no_ties_and_beta0_errors"),
    "HIGHS_FEAS_TOL": E("solver", "numerics/lp.py; Slater margin replayed at 50 digits (SLATER_REPLAY_RTOL)",
                        "tests/test_numerics_saddle.py::test_slater_margin_and_error"),
    "PROX_CLARABEL_TOL": E("solver", "numerics/prox_cvxpy.py; caught by PROX_CVXPY_PI_ATOL",
                           "tests/test_checks_symbolic.py::test_opd_closed_form_broken_kernel_or_derivation"),
    # ---------------------------------------------------------------- kernels
    "LAST_ITERATE_CONVERGED_RTOL": E("gate", "kernels/trajectory.py last_iterate_converges (fig-1-toy); replay/toy.py "
                                     "replay_converges (its control: replay_converged_controls)", f"{TOL}:converged_gate_controls", True),
    "RATE_FIT_FLOOR_ABS": E("solver", "kernels/trajectory.py fit window; the fit is judged by the rate gates",
                            "tests/test_kernels_opd.py::test_judges_on_synthetic_inputs"),
    "RATE_FIT_MIN_POINTS": E("solver", "kernels/trajectory.py fit window; no fit -> not judged",
                             "tests/test_kernels_opd.py::test_judges_on_synthetic_inputs"),
    "RUN_STOP_RTOL": E("solver", "early stop of long runs; the error floor is below every judged value",
                       "tests/test_kernels_numba_fused.py::test_fused_stop_below_and_metrics_every"),
    "NUMBA_AGREEMENT_RTOL": E("gate", "studies/thm34.py backends_agree (numba_numpy_control, thm-3.4 family controls)",
        f"{TOL}:backend_agree_controls", True),
    "NUMBA_KL_SERIES_RTOL": E("gate", "tests only: the Numba KL series vs kl_rows_log (kernels/accuracy.py kl_series_agrees)",
                              "tests/test_studies_tolerance_controls.py::test_kernel_accuracy_gate_own_scale", True),
    "NUMBA_SOFTMAX_RTOL_PER_LOGIT": E("gate", "tests only: the Numba log-softmax row (kernels/accuracy.py softmax_log_agrees, softmax_pi_agrees)",
                                      "tests/test_studies_tolerance_controls.py::test_kernel_accuracy_gate_own_scale", True),
    # ---------------------------------------------------------------- checks
    "BOUND_RTOL": E("gate", "thm-3.4 (judge_bound), thm-3.4-lyapunov (judge_lyapunov), app-C, lemma-B.5",
                    f"{TOL}:bound_gate_controls", True),
    "LYAPUNOV_PHI_FLOOR_RTOL": E("gate", "kernels/trajectory.py lyapunov_floor (thm-3.4-lyapunov, app-C): steps below the floor are not judged",
        f"{TOL}:lyapunov_floor_controls", True),
    "LAMBDA_UNIQUE_EIG_RTOL": E("gate", "numerics/local_rate.py lam_star_not_unique (thm-3.4 family via studies/thm34.py, tightness, certify): degenerate instances not judged",
        f"{TOL}:degeneracy_gate_controls", True),
    "TIGHT_CONSTRAINT_ATOL": E("gate", "studies/thm34.py constraint_is_tight: which constraints enter the degeneracy test",
        f"{TOL}:degeneracy_gate_controls", True),
    "THM34_RATE_ATOL": E("gate", "thm-3.4-rate judge_rate (measured rate vs rho(46))",
                         f"{TOL}:thm34_rate_gate_controls", True),
    "THM34_CERT_MATCH_ATOL": E("gate", "thm-3.4-rate measured_agrees (measured vs certified)",
                               f"{TOL}:cert_match_controls", True),
    "BEST_RESPONSE_CVXPY_ATOL": E("gate", "eq3-best-response agreement finding; numerics/certificates.py",
                                  f"{TOL}:reference_distance_controls", True),
    "FD_RTOL": E("gate", "dual-function fd_formula_ok / fd_estimate_ok (finite-difference gradient and Hessian)",
                 f"{TOL}:fd_gate_controls", True),
    "CONVEXITY_RTOL": E("gate", "dual-function convexity_ok (convexity on segments)",
                        f"{TOL}:convexity_gate_controls", True),
    "LAMBDA_ZERO_ATOL": E("gate", "lemma-B.5 counts_as_zero / counts_as_negative ('lam* > 0', 'lam* >= 0')",
                          f"{TOL}:multiplier_zero_controls", True),
    "RATE_CERT_ENCLOSURE_WIDTH": E("solver", "exact bisection width (sound at any width); 1000x below the match gate",
                                   "tests/test_checks_rate_certificate.py::test_spec_stability_thresholds"),
    "RATE_CERT_MATCH_RTOL": E("gate", "rate-certificate judge_rate; step-size-map",
                              f"{TOL}:rate_match_controls", True),
    "RATE_CERT_BURN_IN": E("solver", "rate fit window start; judged by RATE_CERT_MATCH_RTOL",
                           "tests/test_checks_rate_certificate.py::test_measure_tail_rate_on_exact_sequences"),
    "RATE_CERT_FIT_FLOOR": E("solver", "rate fit window end; judged by RATE_CERT_MATCH_RTOL",
                             "tests/test_checks_rate_certificate.py::test_measure_tail_rate_on_exact_sequences"),
    "RATE_CERT_LINEAR_CEILING": E("solver", "diverging-run fit window end; judged by RATE_CERT_MATCH_RTOL",
                                  "tests/test_checks_alg1_family.py::test_local_probe_catches_wrong_certificates"),
    "PROX_CVXPY_PI_ATOL": E("gate", "opd-closed-form matches_cvxpy: prox solve vs the closed forms",
        "tests/test_studies_tolerance_controls.py::test_one_sided_check_gates_at_their_own_scale", True),
    "PINSKER_ATOL": E("gate", "lemmas-B.2-B.4-B.8 Pinsker draws and their replay (replay gates at own scale; the "
                      "float draws' 'holds' is the same comparison inline)", f"{TOL}:pinsker_replay_controls", True),
    "BILINEAR_RATE_ATOL": E("gate", "bilinear-gda: measured vs exact radius (rate_matches), both rate findings",
                            f"{TOL}:close_gate_controls", True),
    "THM34_CROSSCHECK_RTOL": E("gate", "replay/core.py crosscheck_constants (thm-3.4 family); thm-3.4-constants inline",
                               f"{TOL}:constants_crosscheck_controls", True),
    "DUAL_NEWTON_XTOL": E("gate", "numerics/dual.py 'converged' (remaining Newton step)",
                          "tests/test_tolerances_last_gates.py::test_dual_newton_certificate_gates", True),
    "DUAL_NEWTON_PINV_RCOND": E("solver", "numerics/dual.py pseudo-inverse; non-unique lam* certified by the gradient",
                                "tests/test_numerics_local_rate_limits.py::test_duplicated_constraints_are_refused_before_exact_arithmetic"),
    "DUAL_NEWTON_ROUNDING_FACTOR": E("gate", "numerics/dual.py gradient rounding gate; dual-function KKT gates",
                                     f"{GATE}:kkt_gate_controls", True),
    "DUAL_NEWTON_LAM_MAX": E("limit", "numerics/dual.py: unbounded D (Slater fails) refused",
                             "tests/test_numerics_reliability.py::test_dual_newton_huge_multiplier"),
    "DUAL_NEWTON_RESOLUTION_RTOL": E("gate", "numerics/dual.py 'converged' (lam resolution)",
                                     "tests/test_tolerances_last_gates.py::test_dual_newton_certificate_gates", True),
    "CERT_FOC_ROUNDING_FACTOR": E("gate", "numerics/certificates.py first_order_certificate (eq3-best-response)",
                                  f"{GATE}:first_order_gate_controls", True),
    "CERT_VALUE_ROUNDING_FACTOR": E("gate", "numerics/certificates.py value_certificate (eq3, dual-function)",
                                    f"{GATE}:value_gate_controls", True),
    "CERT_REPLAY_DIGITS": E("solver", "replay/certified.py working precision; REFUTED needs the replay",
                            "tests/test_numerics_reliability.py::test_eq3_printed_formula_refuted_with_independent_witness"),
    "INSTANCE_MAX_BYTES": E("limit", "instances.py load_problem",
                            "tests/test_numerics_reliability.py::test_load_npz_size_checked_before_decompressing"),
    "NAME_MAX_CHARS": E("limit", "instances.py problem names",
                        "tests/test_numerics_reliability.py::test_names_cannot_forge_report_lines"),
    # ---------------------------------------------------------------- replay
    "REPLAY_DPS": E("solver", "numerics/replay working precision",
                    "tests/test_numerics_replay.py::test_toy_saddle_at_50_digits_is_certified"),
    "REPLAY_NEWTON_PG_TOL": E("gate", "replay/core.py mp_saddle 'certified'",
                              "tests/test_tolerances_last_gates.py::test_replay_saddle_certificate_gate", True),
    "REPLAY_NEWTON_LOCAL": E("solver", "replay/core.py full Newton steps near the solution; certified by REPLAY_NEWTON_PG_TOL",
                             "tests/test_numerics_replay.py::test_toy_saddle_at_50_digits_is_certified"),
    "REPLAY_AGREE_RTOL": E("gate", "replay/core.py _agree (every witness's 'agrees')", f"{TOL}:replay_agree_controls", True),
    "REPLAY_AGREE_ATOL": E("gate", "replay/core.py _agree (absolute part)", f"{TOL}:replay_agree_controls", True),
    "REPLAY_MAX_WORK": E("limit", "replay/core.py: larger counterexamples are not replayed (INCONCLUSIVE)"),
    "REPLAY_RATE_ATOL": E("gate", "replay/core.py rate_agrees (thm-3.4-rate witness agreement)",
        f"{TOL}:replay_rate_agree_controls", True),
    "SLATER_REPLAY_RTOL": E("gate", "replay/core.py slater_margin_agrees (replay_slater_margins and replay_l1_bound, lemma-B.5)",
                            f"{TOL}:slater_replay_controls", True),
    "CONTROL_STEPS": E("limit", "steps of the positive controls' runs"),
    "PINSKER_TIGHT_RATIO": E("gate", "lemmas-B.2-B.4-B.8 positive control (draws reach the tight regime)",
                             f"{TOL}:pinsker_tight_controls", True),
    "CLOSED_FORM_KERNEL_ATOL": E("gate", "opd-closed-form kernel_matches: kernel vs sympy closed form",
        "tests/test_studies_tolerance_controls.py::test_one_sided_check_gates_at_their_own_scale", True),
    "DUAL_STEP_POLICY_ATOL": E("gate", "dual-step-scale policies_match; printed_controls.prox_step_derivation_control (relative form, inline)",
        "tests/test_studies_tolerance_controls.py::test_one_sided_check_gates_at_their_own_scale", True),
    "BILINEAR_UNSTABLE_S": E("solver", "bilinear-gda: a test point beyond the exact threshold (not a tolerance)",
                             "tests/test_checks_symbolic.py::test_bilinear_findings_and_optimism_removed"),
    # ---------------------------------------------------------------- Algorithm 3
    "ALG3_PINV_RCOND": E("solver", "kernels/alg3.py pseudo-inverse; judged by ALG3_DIRECTION_RTOL (pinv vs lstsq)",
                         "tests/test_kernels_alg3.py::test_pinv_equals_least_squares_including_rank_deficient"),
    "ALG3_THETA0_ATOL": E("limit", "kernels/alg3.py input validation (theta_0 in Theta)",
                          "tests/test_kernels_alg3.py::test_theta0_outside_theta_is_a_clear_error"),
    "REMARK35_POLICY_ATOL": E("gate", "remark-3.5 policies_agree: Alg. 3 vs Alg. 2 policies",
        "tests/test_studies_tolerance_controls.py::test_one_sided_check_gates_at_their_own_scale", True),
    "ALG3_DIRECTION_RTOL": E("gate", "alg-3-npg directions_agree: pinv vs lstsq directions",
        f"{TOL}:alg3_direction_anchor_controls", True),
    "EQ72_FD_STEP": E("solver", "alg-3-npg finite-difference step of the KL expansion; judged by EQ72_FD_RTOL",
                      "tests/test_replay_planted_bugs.py::test_alg3_npg_code_bugs_are_not_paper_errors"),
    "EQ72_FD_RTOL": E("gate", "alg-3-npg eq72_agrees: KL ~ 1/2 dtheta^T F dtheta; alg-3-neural curvature_matches "
                      "(its own-scale control: at_most_controls in the check)",
        "tests/test_studies_tolerance_controls.py::test_one_sided_check_gates_at_their_own_scale", True),
    "ALG3_ANCHOR_ATOL": E("gate", "alg-3-npg anchored: gradients at theta_hat_t only",
        f"{TOL}:alg3_direction_anchor_controls", True),
    "IN_CLASS_KKT_ATOL": E("gate", "numerics/in_class.py kkt_solved: in-class saddle 'solved'; alg-3-npg",
        f"{TOL}:alg3_gate_controls", True),
    "IN_CLASS_TABULAR_ATOL": E("gate", "numerics/in_class.py tabular_agrees: in-class vs distributional saddle (tabular)",
        "tests/test_studies_tolerance_controls.py::test_alg3_and_in_class_gates_at_their_own_scale", True),
    "ALG3_CONVERGED_RTOL": E("gate", "alg-3-npg alg3_converged",
        f"{TOL}:alg3_gate_controls", True),
    "COUNTEREX_AGREE_RTOL": E("gate", "replay/alg3.py code_agrees (cor-3.10-counterexample, alg-3-npg fixed-point replay)",
        "tests/test_studies_tolerance_controls.py::test_counterexample_replay_agreement_at_its_own_scale", True),
    "LEMMA_B11_ATOL": E("gate", "lemmas-B.9-B.12 and replay/lemma_b11.py: one function, exceeds",
        "tests/test_studies_tolerance_controls.py::test_lemma_b11_exceeds_at_its_own_scale", True),
    "ALG3_FIXED_POINT_ATOL": E("gate", "alg-3-npg: active-projection limit is a fixed point (50-digit replay)",
                               f"{TOL}:fixed_point_gate_controls", True),
    "ALG3_TAIL_SPREAD_ATOL": E("gate", "alg-3-npg: float run's tail has stopped",
                               f"{TOL}:fixed_point_gate_controls", True),
    "COUNTEREX_STAYS_RTOL": E("gate", "cor-3.10-counterexample error_stays", f"{TOL}:stays_gate_controls", True),
    "REMARK35_FISHER_ATOL": E("gate", "remark-3.5 fisher_agrees: tabular Fisher vs closed form",
        "tests/test_studies_tolerance_controls.py::test_one_sided_check_gates_at_their_own_scale", True),
    # ---------------------------------------------------------------- Algorithm 1, baselines, experiments
    "ALG1_RATE_ATOL": E("gate", "fig-1-toy, alg-1-unification: studies/alg1_designs.py rate_matches_radius (measured rate vs radius^2)",
        "tests/test_studies_tolerance_controls.py::test_alg1_rate_and_saddle_gates_at_their_own_scale", True),
    "ALG1_REPLAY_RTOL": E("gate", "replay/toy.py replay_agreement (fig-1-toy); step-size-map's orbit replay",
                          f"{TOL}:toy_replay_agree_controls", True),
    "ALG1_REPLAY_FLOOR": E("gate", "replay/toy.py replay_agreement: values below it are not compared",
                           f"{TOL}:toy_replay_agree_controls", True),
    "ALG1_SADDLE_ATOL": E("gate", "alg-1-unification reaches_saddle: reach the exact saddle point",
        "tests/test_studies_tolerance_controls.py::test_alg1_rate_and_saddle_gates_at_their_own_scale", True),
    "ALG1_CONVERGED_RATIO": E("gate", "step-size-map judge_default_run 'converged' (own scale); alg-1-unification inline",
                              f"{TOL}:run_converged_controls", True),
    "ALG1_CERT_MARGIN": E("gate", "step-size-map expectation: which cells the certificate decides",
                          f"{TOL}:cert_margin_controls", True),
    "SEC4_FEASIBLE_ATOL": E("gate", "sec-4-stability ends_feasible", f"{TOL}:sec4_gate_controls", True),
    "SEC4_OSCILLATION_MIN": E("gate", "sec-4-stability keeps_oscillating", f"{TOL}:sec4_gate_controls", True),
    "SEC4_SETTLE_BAND_EXACT": E("gate", "sec-4-stability settle_time band", f"{TOL}:settle_band_controls", True),
    "SSM_CERT_CROSSCHECK_ATOL": E("gate", "step-size-map control: per-mode radius vs full Jacobian",
                                  f"{TOL}:close_gate_controls", True),
    "SSM_LOCAL_PROBE_DEVIATION": E("solver", "step-size-map local probe start; judged by RATE_CERT_MATCH_RTOL",
                                   "tests/test_checks_alg1_family.py::test_local_probe_catches_wrong_certificates"),
    "SSM_CYCLE_CLOSURE_ATOL": E("report", "step-size-map: period of a settled orbit (reporting only)"),
    # ---------------------------------------------------------------- fused Numba kernels
    "FASTEXP_MAX_ULP": E("gate", "kernels/fastexp.py accuracy contract (tests; kernels/accuracy.py exp_within_ulp)",
                         "tests/test_studies_tolerance_controls.py::test_kernel_accuracy_gate_own_scale", True),
    "FUSED_AGREEMENT_RTOL": E("alias", "= NUMBA_AGREEMENT_RTOL; studies/kernel_controls.py fused_kernel_control",
                              "opdcheck.paper_checks.studies.kernel_controls:fused_kernel_control"),
    "NUMBA_ALG3_AGREEMENT_RTOL": E("gate", "studies/kernel_controls.py Alg. 3 Numba step control",
                                   f"{TOL}:at_most_controls", True),
    # ---------------------------------------------------------------- corrected Thm 3.4, tightness, certify
    "CERTIFY_MAX_DENOMINATOR": E("solver", "numerics/local_rate.py rounding to rationals (reported)",
                                 "tests/test_numerics_local_rate.py::test_toy_at_beta_1_matches_the_known_rate"),
    "CERTIFY_ENCLOSURE_WIDTH": E("solver", "exact bisection width (sound at any width)",
                                 "tests/test_numerics_local_rate.py::test_toy_at_beta_1_matches_the_known_rate"),
    "CERTIFY_STRICT_COMPLEMENTARITY_ATOL": E("gate", "numerics/local_rate.py: degenerate active set refused",
                                             "tests/test_tolerances_last_gates.py::test_certify_strict_complementarity_gate", True),
    "CERTIFY_FULL_JACOBIAN_MAX_DIM": E("limit", "numerics/local_rate.py full-Jacobian cross-check size"),
    "CORRECTED_FORMULA_ATOL": E("gate", "thm-3.4-corrected judge_case formula_ok", f"{TOL}:corrected_gate_controls", True),
    "CORRECTED_MEASURED_ATOL": E("gate", "thm-3.4-corrected judge_case measured_agrees; theorem-tightness",
                                 f"{TOL}:corrected_gate_controls", True),
    # ---------------------------------------------------------------- reliability
    "SADDLE_RESULT_RTOL": E("gate", "numerics/kkt.py require_own_certificate (every solve_saddle); lemma-B.5 saddle_is_own",
                            f"{TOL}:saddle_certificate_controls", True),
    "CERTIFY_BILINEAR_MAX_DIM": E("limit", "certify --bilinear default size",
                                  "tests/test_numerics_local_rate_limits.py::test_a_large_A_is_refused_before_any_work_and_the_limit_can_be_raised"),
    # ---------------------------------------------------------------- readings
    "FISHER_PROJECTION_RIDGE": E("solver", "studies/fisher_projection.py metric ridge; limits judged at IN_CLASS_KKT_ATOL",
                                 "tests/test_checks_alg3_family.py::test_fisher_projection_fixed_point_is_kkt_and_euclidean_is_not"),
    "IN_CLASS_GAP_ATOL": E("gate", "app-E-strong-duality gap; replay/readings.py",
                           "tests/test_studies_tolerance_controls.py::test_in_class_replay_gates_at_their_own_scale", True),
    "IN_CLASS_AGREE_ATOL": E("gate", "app-E-strong-duality: float vs 50-digit agreement (replay/readings.py)",
                             "tests/test_studies_tolerance_controls.py::test_in_class_replay_gates_at_their_own_scale", True),
    "EXISTENTIAL_RATE_SLACK": E("gate", "thm-3.4 existential reading (studies/thm34_readings.py)",
                                f"{TOL}:existential_slack_controls", True),
    # ---------------------------------------------------------------- baseline and gate controls
    "BASELINE_NUMBER_RTOL": E("gate", "paper_checks/baseline.py --strict number comparison",
                              "tests/test_studies_tolerance_controls.py::test_baseline_number_gate_at_its_own_scale", True),
    "GATE_CONTROL_FACTOR": E("solver", "the gate controls' perturbation; a 1000x looser gate fails them",
                             "tests/test_studies_tolerance_controls.py::test_rate_match_controls_catch_a_looser_or_tighter_judge_rate"),
    "FOC_GATE_MAX_ROUNDINGS": E("gate", "gate_controls.py: ceiling of rounding-level gates",
                                f"{GATE}:first_order_gate_controls", True),
    "NEURAL_FEASIBLE_ATOL": E("gate", "sec-4-stability neural_cost_feasible, penalty_lowers_cost (the latter's own-scale "
                              "control: threshold_controls in the check)", f"{TOL}:neural_gate_controls", True),
    "NEURAL_OSCILLATION_DECADES": E("gate", "sec-4-stability neural_oscillates (the neural premise)", f"{TOL}:sec4_gate_controls", True),
    "NEURAL_REWARD_MARGIN": E("gate", "sec-4-stability reward_competitive", f"{TOL}:neural_gate_controls", True),
    "NEURAL_CG_RTOL": E("gate", "alg-3-neural cg_solved: the natural-gradient solve's relative residual",
                        f"{TOL}:at_most_controls", True),
    "PAIRED_TEST_ALPHA": E("gate", "sec-4-stability significant (paired tests)", f"{TOL}:neural_gate_controls", True),
}

CLASSES = ("gate", "solver", "limit", "alias", "report", "unused")

#: gates whose referenced control or test does not perturb at GATE_CONTROL_FACTOR x the tolerance (it catches
#: bugs at a coarser scale, or is a positive check only). This list may only shrink.
GATES_WITHOUT_OWN_SCALE_CONTROL: frozenset[str] = frozenset()


def _constants() -> list[str]:
    tree = ast.parse((ROOT / "opdcheck" / "tolerances.py").read_text())
    return [t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(t, ast.Name) and re.fullmatch(r"[A-Z][A-Z0-9_]*", t.id)]


def _package_sources() -> str:
    return "\n".join(p.read_text() for p in (ROOT / "opdcheck").rglob("*.py") if p.name != "tolerances.py")


def _resolves(ref: str) -> bool:
    if "::" in ref:
        path, name = ref.split("::")
        f = ROOT / path
        return f.is_file() and re.search(rf"^\s*def {re.escape(name)}\(", f.read_text(), re.M) is not None
    module, name = ref.split(":")
    return callable(getattr(importlib.import_module(module), name, None))


def test_every_constant_is_classified():
    """A new tolerance must be classified here (and a removed one removed)."""
    names = _constants()
    assert len(names) == len(set(names)), "a constant is defined twice in tolerances.py"
    assert sorted(set(names) - set(AUDIT)) == [], "classify these tolerances in tests/test_tolerances_gates.py"
    assert sorted(set(AUDIT) - set(names)) == [], "these audited names are no longer in tolerances.py"
    assert all(e.cls in CLASSES and e.where for e in AUDIT.values())


@pytest.mark.parametrize("name", sorted(n for n, e in AUDIT.items() if e.ref))
def test_every_reference_exists(name):
    """Every gate names a control or test, and every reference given (for any class) resolves."""
    assert _resolves(AUDIT[name].ref), f"{name}: {AUDIT[name].ref} does not exist"


def test_every_gate_names_a_control():
    assert [n for n, e in AUDIT.items() if e.cls == "gate" and not e.ref] == []


def test_gates_without_an_own_scale_control_are_listed_explicitly():
    gates = {n for n, e in AUDIT.items() if e.cls == "gate"}
    assert GATES_WITHOUT_OWN_SCALE_CONTROL <= gates
    assert {n for n in gates if not AUDIT[n].own} == set(GATES_WITHOUT_OWN_SCALE_CONTROL)
    assert all(AUDIT[n].ref.startswith(("opdcheck.", "tests/test_studies_tolerance_controls.py",
                                        "tests/test_tolerances_last_gates.py"))
               for n in gates - GATES_WITHOUT_OWN_SCALE_CONTROL), \
        "an own-scale control is a runtime control function or a test in test_studies_tolerance_controls.py"


def test_unused_and_alias_classes_are_true():
    """'unused' means referenced nowhere in the package; 'alias' means defined as another constant."""
    src = _package_sources()
    for name, e in AUDIT.items():
        if e.cls == "unused":
            assert re.search(rf"\b{name}\b", src) is None, f"{name} is used now: classify it"
    text = (ROOT / "opdcheck" / "tolerances.py").read_text()
    for name, e in AUDIT.items():
        m = re.search(rf"^{name}\s*=\s*(.+)$", text, re.M)
        assert (e.cls == "alias") == bool(m and re.fullmatch(r"[A-Z][A-Z0-9_]*", m.group(1).strip())), name


def test_own_scale_controls_pass_unmutated():
    """The runtime controls the audit calls own-scale pass on the real comparisons (cheap: pure comparisons and
    one 50-digit step)."""
    from opdcheck.paper_checks.checks.thm_3_4_corrected import judge_case
    from opdcheck.paper_checks.studies import tolerance_controls as tc

    out = (tc.rate_match_controls(0.9, 0.9 + 1e-6) + tc.cert_match_controls("9/10", "9/10") + tc.bound_gate_controls()
           + tc.lyapunov_gate_controls() + tc.thm34_rate_gate_controls() + tc.replay_agree_controls()
           + tc.corrected_gate_controls(judge_case) + [tc.replay_projection_control()])
    assert all(c.passed for c in out), [c.name for c in out if not c.passed]


#: The value of every tolerance, pinned: a tolerance edited in tolerances.py (a gate made looser, to make a check
#: pass or by a slip) fails here until this table is edited too, so every change of a gate's value is deliberate
#: and visible in review (its numerical reason in tolerances.py must change with it).
PINNED_VALUES: dict[str, float] = {
    'ALG1_CERT_MARGIN': 0.001,
    'ALG1_CONVERGED_RATIO': 1e-06,
    'ALG1_RATE_ATOL': 0.002,
    'ALG1_REPLAY_FLOOR': 1e-10,
    'ALG1_REPLAY_RTOL': 1e-08,
    'ALG1_SADDLE_ATOL': 1e-07,
    'ALG3_ANCHOR_ATOL': 1e-15,
    'ALG3_CONVERGED_RTOL': 1e-08,
    'ALG3_DIRECTION_RTOL': 1e-08,
    'ALG3_FIXED_POINT_ATOL': 1e-09,
    'ALG3_PINV_RCOND': 1e-10,
    'ALG3_TAIL_SPREAD_ATOL': 1e-12,
    'ALG3_THETA0_ATOL': 1e-12,
    'BASELINE_NUMBER_RTOL': 1e-06,
    'BEST_RESPONSE_CVXPY_ATOL': 1e-05,
    'BILINEAR_RATE_ATOL': 0.005,
    'BILINEAR_UNSTABLE_S': 0.7,
    'BOUND_RTOL': 1e-09,
    'CERTIFY_BILINEAR_MAX_DIM': 32,
    'CERTIFY_ENCLOSURE_WIDTH': 1e-09,
    'CERTIFY_FULL_JACOBIAN_MAX_DIM': 60,
    'CERTIFY_MAX_DENOMINATOR': 1000000000000,
    'CERTIFY_STRICT_COMPLEMENTARITY_ATOL': 1e-08,
    'CERT_FOC_ROUNDING_FACTOR': 64.0,
    'CERT_REPLAY_DIGITS': 50,
    'CERT_VALUE_ROUNDING_FACTOR': 8.0,
    'CLARABEL_RAW_ATOL': 0.0001,
    'CLARABEL_TOL_FEAS': 1e-10,
    'CLARABEL_TOL_GAP': 1e-12,
    'CLARABEL_TOL_POLISH_START': 1e-09,
    'CLOSED_FORM_KERNEL_ATOL': 1e-12,
    'CONTROL_STEPS': 400,
    'CONVEXITY_RTOL': 1e-12,
    'CORRECTED_FORMULA_ATOL': 1e-09,
    'CORRECTED_MEASURED_ATOL': 0.002,
    'COUNTEREX_AGREE_RTOL': 1e-12,
    'COUNTEREX_STAYS_RTOL': 1e-14,
    'DUAL_NEWTON_ACTIVE_EPS': 0.001,
    'DUAL_NEWTON_ARMIJO': 0.0001,
    'DUAL_NEWTON_GTOL': 1e-12,
    'DUAL_NEWTON_LAM_MAX': 1000000000000000.0,
    'DUAL_NEWTON_MAX_ITER': 500,
    'DUAL_NEWTON_PINV_RCOND': 1e-10,
    'DUAL_NEWTON_RESOLUTION_RTOL': 1e-06,
    'DUAL_NEWTON_ROUNDING_FACTOR': 16.0,
    'DUAL_NEWTON_XTOL': 1e-08,
    'DUAL_STEP_POLICY_ATOL': 1e-12,
    'EQ72_FD_RTOL': 0.02,
    'EQ72_FD_STEP': 0.001,
    'EXISTENTIAL_RATE_SLACK': 0.05,
    'FASTEXP_MAX_ULP': 1.0,
    'FD_RTOL': 1e-05,
    'FISHER_PROJECTION_RIDGE': 1e-08,
    'FOC_GATE_MAX_ROUNDINGS': 1024.0,
    'FUSED_AGREEMENT_RTOL': 1e-12,
    'GATE_CONTROL_FACTOR': 4.0,
    'HIGHS_FEAS_TOL': 1e-10,
    'INSTANCE_MAX_BYTES': 4000000000,
    'IN_CLASS_AGREE_ATOL': 0.0001,
    'IN_CLASS_GAP_ATOL': 0.001,
    'IN_CLASS_KKT_ATOL': 1e-06,
    'IN_CLASS_TABULAR_ATOL': 1e-05,
    'LAMBDA_UNIQUE_EIG_RTOL': 1e-10,
    'LAMBDA_ZERO_ATOL': 1e-12,
    'LAST_ITERATE_CONVERGED_RTOL': 1e-06,
    'LEMMA_B11_ATOL': 1e-12,
    'LP_TIE_ATOL': 1e-08,
    'LYAPUNOV_PHI_FLOOR_RTOL': 1e-12,
    'NAME_MAX_CHARS': 200,
    'NEURAL_FEASIBLE_ATOL': 0.025,
    'NEURAL_OSCILLATION_DECADES': 1.0,
    'NEURAL_REWARD_MARGIN': 0.05,
    'NEURAL_CG_RTOL': 1e-3,
    'NUMBA_AGREEMENT_RTOL': 1e-12,
    'NUMBA_ALG3_AGREEMENT_RTOL': 1e-12,
    'NUMBA_KL_SERIES_RTOL': 1e-10,
    'NUMBA_SOFTMAX_RTOL_PER_LOGIT': 5e-16,
    'PAIRED_TEST_ALPHA': 0.05,
    'PINSKER_ATOL': 1e-12,
    'PINSKER_TIGHT_RATIO': 0.99,
    'POLISH_ACTIVE_TOL': 1e-06,
    'POLISH_KKT_ATOL': 1e-12,
    'POLISH_MAX_ACTIVE_CHANGES': 10,
    'POLISH_MAX_ITER': 50,
    'POLISH_SIGN_ATOL': 1e-09,
    'POLISH_STALL_ATOL': 1e-10,
    'PROX_CLARABEL_TOL': 1e-10,
    'PROX_CVXPY_PI_ATOL': 1e-05,
    'RATE_CERT_BURN_IN': 0.0001,
    'RATE_CERT_ENCLOSURE_WIDTH': 1e-06,
    'RATE_CERT_FIT_FLOOR': 1e-27,
    'RATE_CERT_LINEAR_CEILING': 1e-08,
    'RATE_CERT_MATCH_RTOL': 0.001,
    'RATE_FIT_FLOOR_ABS': 1e-24,
    'RATE_FIT_MIN_POINTS': 8,
    'REMARK35_FISHER_ATOL': 1e-14,
    'REMARK35_POLICY_ATOL': 1e-10,
    'REPLAY_AGREE_ATOL': 1e-13,
    'REPLAY_AGREE_RTOL': 1e-08,
    'REPLAY_DPS': 50,
    'REPLAY_MAX_WORK': 200000,
    'REPLAY_NEWTON_LOCAL': 1e-20,
    'REPLAY_NEWTON_PG_TOL': 1e-40,
    'REPLAY_RATE_ATOL': 1e-06,
    'RUN_STOP_RTOL': 1e-13,
    'SADDLE_AGREEMENT_ATOL': 1e-07,
    'SADDLE_RESULT_RTOL': 1e-06,
    'SADDLE_ROW_SUM_ATOL': 1e-06,
    'SEC4_FEASIBLE_ATOL': 0.03,
    'SEC4_OSCILLATION_MIN': 0.05,
    'SEC4_SETTLE_BAND_EXACT': 0.05,
    'SIMPLEX_SUM_ATOL': 1e-09,
    'SLATER_REPLAY_RTOL': 1e-07,
    'SLATER_XI_ATOL': 1e-09,
    'SSM_CERT_CROSSCHECK_ATOL': 2e-05,
    'SSM_CYCLE_CLOSURE_ATOL': 1e-09,
    'SSM_LOCAL_PROBE_DEVIATION': 1e-06,
    'THM34_CERT_MATCH_ATOL': 0.001,
    'THM34_CROSSCHECK_RTOL': 1e-12,
    'THM34_RATE_ATOL': 0.001,
    'TIGHT_CONSTRAINT_ATOL': 1e-08,
}


def test_every_tolerance_value_is_pinned():
    import opdcheck.tolerances as tol

    current = {n: getattr(tol, n) for n in dir(tol) if n.isupper() and isinstance(getattr(tol, n), (int, float))}
    changed = {n: (PINNED_VALUES.get(n), v) for n, v in current.items() if PINNED_VALUES.get(n) != v}
    assert changed == {}, f"tolerances changed (pinned, now): {changed}; edit PINNED_VALUES deliberately"
