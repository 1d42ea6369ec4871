"""Instances: the paper's toy, the Cor 3.10 counterexample, seeded random instances, file I/O.

Files are ``.npz`` (``allow_pickle=False``) or ``.json`` with the keys
``rho, pi_ref, R_soft, w, R_hard, beta`` (and optionally ``name``); never pickle.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from opdcheck.logspace import softmax_rows
from opdcheck.problem import Problem
from opdcheck.tolerances import INSTANCE_MAX_BYTES, NAME_MAX_CHARS

__all__ = ["paper_toy", "cor310_counterexample", "random_instance", "inverse_design_instance",
           "load_problem", "save_problem", "sanitize_name", "FILE_KEYS"]

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
    """The distributional data of the Cor 3.10 counterexample.

    One prompt, two responses, ``pi_ref = p_0 = (0.2, 0.8)``, soft reward ``(1, 0)``, hard reward
    ``(-0.6, 0.4)``, ``beta = 0.05``. The parameterized class ``p_th(y0) = 0.2 + 0.1 th^2`` on
    ``Theta = [-1, 1]`` with ``eta = 3``, ``th_0 = 0`` is recorded in ``meta``.
    """
    return Problem(rho=[1.0], pi_ref=[[0.2, 0.8]], R_soft=[[[1.0, 0.0]]], w=[1.0],
                   R_hard=[[[-0.6, 0.4]]], beta=0.05, name="cor-3.10-counterexample",
                   meta={"source": "third-party counterexample to Cor 3.10",
                         "policy_class": "p_th(y0) = 0.2 + 0.1 th^2", "theta_bounds": (-1.0, 1.0),
                         "eta": 3.0, "theta0": 0.0})


def _one_hot(idx: np.ndarray, n: int) -> np.ndarray:
    """Deterministic policy table (X, n) putting mass 1 on ``idx[x]`` (O(X n) memory, not an n x n identity)."""
    out = np.zeros((len(idx), n))
    out[np.arange(len(idx)), idx] = 1.0
    return out


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
        if isinstance(val, (bool, np.bool_)) or not isinstance(val, (int, np.integer)) or val < lo:
            raise ValueError(f"random_instance: {name} = {val!r}; pass an integer >= {lo}.")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
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
    # the arrays below take about (h + K + 6) float64 tables of shape (X, n) at once: refuse up front what the
    # memory limit (OPDCHECK_MEMORY_LIMIT, default a fraction of RAM) cannot hold, instead of hanging in an allocation
    from opdcheck.resources import format_bytes, memory_limit

    need = 8 * int(X) * int(n) * (int(h) + int(K) + 6)
    limit, source = memory_limit(None)
    if limit is not None and need > limit:
        raise ValueError(f"random_instance: X = {X}, n = {n}, h = {h} needs about {format_bytes(need)} of memory, more "
                         f"than the limit {format_bytes(limit)} ({source}); pass a smaller X or n (or raise "
                         "OPDCHECK_MEMORY_LIMIT).")
    for name, val in (("reward_scale", reward_scale), ("ref_temperature", ref_temperature)):
        try:
            ok = np.isfinite(float(val)) and float(val) > 0 if name == "reward_scale" else np.isfinite(float(val)) and float(val) >= 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            need = "a finite float > 0 (rewards are drawn from [-s, s]; s = 0 makes every constraint 0 = 0, so no " \
                   "policy is strictly feasible)" if name == "reward_scale" else "a finite float >= 0"
            raise ValueError(f"random_instance: {name} = {val!r}; pass {need}.")
    try:
        q_ok = len(active_quantile) == 2 and 0 < float(active_quantile[0]) < float(active_quantile[1]) < 1
    except (TypeError, ValueError):
        q_ok = False
    if not q_ok:
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
        pi_0 = _one_hot(np.argmax(r, axis=1), n)
    # pi_s favours the constraints that may be active (the slack ones hold for every policy), so that
    # at least one of them has c_j(pi_s) >= c_j(pi_0) and gets an active threshold
    pi_s = _one_hot(np.argmax(G[:h - inactive].sum(axis=0), axis=1), n)
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
    # the promise, checked on the built-in witness pi_s (the checks still compute xi by LP)
    margin = float(np.min(np.einsum("x,xn,jxn->j", rho, pi_s, R_hard)))
    if not margin > 0:
        raise ValueError(
            f"random_instance(X={X}, n={n}, h={h}, seed={seed}, reward_scale={reward_scale!r}): the built-in strictly "
            f"feasible policy has margin {margin:.3g} <= 0, so Slater's condition is not guaranteed; try another seed."
        )
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


def _limit_bytes() -> int:
    """The largest instance data load_problem reads: INSTANCE_MAX_BYTES, or $OPDCHECK_MAX_INSTANCE_BYTES."""
    import os

    raw = os.environ.get("OPDCHECK_MAX_INSTANCE_BYTES")
    if raw is None:
        return INSTANCE_MAX_BYTES
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"OPDCHECK_MAX_INSTANCE_BYTES = {raw!r} is not an integer; set a byte count, "
                         "e.g. 8000000000.") from None
    if value <= 0:
        raise ValueError(f"OPDCHECK_MAX_INSTANCE_BYTES = {value}; set a positive byte count.")
    return value


#: bytes the loader and Problem hold per byte of decoded array data at their peak (the raw member, its
#: float64 copy, Problem's validated copy); JSON text becomes Python lists first (a float object and a
#: pointer, ~32 bytes, per number written in as few as 2-4 characters): up to ~10 bytes per byte of text
LOAD_NPZ_FACTOR = 3
LOAD_JSON_FACTOR = 10


def _memory_refusal(path: Path, what: str, need: int, memory_limit: int | None) -> None:
    if memory_limit is not None and need > memory_limit:
        from opdcheck.resources import format_bytes

        raise ValueError(f"{path}: loading {what} needs about {format_bytes(need)} of memory, over the memory limit "
                         f"{format_bytes(memory_limit)} (decided from the file's headers, before decompressing); "
                         "raise it with --memory-limit SIZE or pass a smaller instance.")


def _read_npz(path: Path, memory_limit: int | None = None) -> dict:
    """The members of an .npz that an instance needs, read safely.

    Only the FILE_KEYS and ``name`` members are opened; each member's uncompressed size (zip header) and
    its .npy header (dtype, shape) are checked against the byte limit *before* any data is decompressed;
    object dtypes (pickle) are refused; other members are never read.
    """
    limit = _limit_bytes()
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{path}: not a valid .npz file ({exc}); write it with numpy.savez.") from None
    out: dict = {}
    with zf:
        members = {Path(i.filename).stem: i for i in zf.infolist() if i.filename.endswith(".npy")}
        wanted = [k for k in (*FILE_KEYS, "name") if k in members]
        total = sum(members[k].file_size for k in wanted)
        if total > limit:
            sizes = {k: members[k].file_size for k in wanted}
            raise ValueError(f"{path}: the instance's arrays need {total} bytes uncompressed ({sizes}), more than "
                             f"the limit {limit}; raise it with OPDCHECK_MAX_INSTANCE_BYTES if this is intended.")
        # every member's inflated size is bounded by its zip header (a member that declares more in its .npy
        # header is refused below before it is read), so this decides before anything is decompressed
        _memory_refusal(path, f"the instance's arrays ({total} bytes uncompressed)", LOAD_NPZ_FACTOR * max(total, 1),
                        memory_limit)
        for k in wanted:
            info = members[k]
            try:
                with zf.open(info) as fp:
                    version = np.lib.format.read_magic(fp)
                    if version == (1, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
                    else:
                        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
                    if dtype.hasobject:
                        raise ValueError(f"{path}: field {k} has dtype {dtype} (Python objects, read only via "
                                         "pickle, which opdcheck never uses); save plain numeric arrays.")
                    if dtype.kind not in "biuf" and not (k == "name" and dtype.kind in "US"):
                        raise ValueError(f"{path}: field {k} has dtype {dtype} ({'complex' if dtype.kind == 'c' else dtype.kind}); "
                                         "an instance needs real numbers: save the real part explicitly if that "
                                         "is what you mean.")
                    need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                    if need > info.file_size or need > limit:
                        raise ValueError(f"{path}: field {k} declares shape {shape} ({need} bytes) but the member "
                                         f"holds {info.file_size} bytes (limit {limit}); the file is corrupt.")
                    data = fp.read(need)
                    if len(data) != need:
                        raise ValueError(f"{path}: field {k} is truncated ({len(data)} of {need} bytes).")
                    arr = np.frombuffer(data, dtype=dtype)
                    arr = arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)
                    out[k] = np.array(arr)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise ValueError(f"{path}: member {info.filename} cannot be read ({exc}).") from None
            except ValueError as exc:
                if str(exc).startswith(str(path)):
                    raise
                raise ValueError(f"{path}: member {info.filename} is not a valid .npy array ({exc}).") from None
    return out


def _json_int(literal: str) -> int:
    """JSON integers beyond float64's range are refused by name (float() of 10^400 overflows)."""
    value = int(literal)
    if abs(value) > 1.7976931348623157e308:
        raise ValueError(f"integer literal with {len(literal.lstrip('-'))} digits ({literal[:12]}...) is beyond the "
                         "float64 range (~1.8e308); write the value as a float within range.")
    return value


def _json_constant(name: str):
    raise ValueError(f"the JSON constant {name} is not a finite number; every entry must be finite.")


def _read_json(path: Path, memory_limit: int | None = None) -> dict:
    limit = _limit_bytes()
    size = path.stat().st_size
    _memory_refusal(path, f"the JSON text ({size} bytes)", LOAD_JSON_FACTOR * size, memory_limit)
    if size > limit:
        raise ValueError(f"{path}: {size} bytes, more than the limit {limit}; raise it with "
                         "OPDCHECK_MAX_INSTANCE_BYTES if this is intended.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc}); a .json instance is a UTF-8 JSON object.") from None
    try:
        raw = json.loads(text, parse_int=_json_int, parse_constant=_json_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON ({exc}).") from None
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply to be an instance (arrays have at most 3 dimensions: "
                         "R_soft and R_hard are (K or h, X, n)).") from None
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: top level must be an object with keys {FILE_KEYS}.")
    return raw


def _refuse_non_numbers(path: Path, field: str, value) -> None:
    """JSON entries must be numbers: a string ("0.05"), a boolean (true) or null is refused by name rather
    than converted (numpy would read "0.05" as 0.05 and true as 1.0 without a word). Depth is already
    bounded by 3, so the walk is short."""
    level = [value]
    while level:
        nxt = []
        for item in level:
            if isinstance(item, list):
                nxt.extend(item)
            elif isinstance(item, bool) or not isinstance(item, (int, float)):
                shown = json.dumps(item)[:40] if not isinstance(item, dict) else "an object"
                raise ValueError(f"{path}: field {field} holds {shown} ({type(item).__name__}); every entry must be "
                                 "a JSON number (write 0.05, not \"0.05\"; 1, not true).")
        level = nxt


def _depth(value, limit: int = 4) -> int:
    """Nesting depth of lists, stopping at ``limit`` (no recursion: a list nested 1e5 deep is safe)."""
    depth, level = 0, [value]
    while level and depth <= limit:
        level = [v for item in level if isinstance(item, list) for v in item[:1]]
        if level:
            depth += 1
    return depth


def load_problem(path: str | Path, *, memory_limit: int | None = None) -> Problem:
    """Read and validate a problem from ``.npz`` or ``.json`` (see :func:`_load_problem`); an operating
    system error (a name too long, no permission, an I/O error) is a ValueError naming the file."""
    try:
        return _load_problem(path, memory_limit=memory_limit)
    except OSError as exc:
        shown = str(path) if len(str(path)) <= 80 else str(path)[:77] + "..."
        raise ValueError(f"instance file {shown!r}: cannot be read ({exc.strerror or exc}); pass the path of a "
                         "readable .npz or .json file.") from None


def _load_problem(path: str | Path, *, memory_limit: int | None = None) -> Problem:
    """Read and validate a problem from ``.npz`` or ``.json``; errors name the file and the field.

    Never executes anything from the file (no pickle), never reads an .npz member it does not need, checks
    sizes from the zip and .npy headers before decompressing (limit INSTANCE_MAX_BYTES, or the environment
    variable OPDCHECK_MAX_INSTANCE_BYTES), refuses complex or object arrays, numbers beyond float64 and
    nesting deeper than an instance has, and sanitises the name (``sanitize_name``) so that it can never
    forge lines of a report. ``memory_limit`` (bytes): refuse, from the headers and before decompressing,
    a file whose arrays would not fit (``opdcheck run/solve/certify --memory-limit``).
    """
    if not isinstance(path, (str, Path)) or (isinstance(path, str) and not path):
        raise ValueError(f"instance file {path!r}: pass the path of a .npz or .json file as a string or Path.")
    path = Path(path)
    if not path.exists():
        raise ValueError(f"instance file {str(path)!r} does not exist; pass the path of a .npz or .json file.")
    if not path.is_file():
        raise ValueError(f"instance file {str(path)!r} is a {'directory' if path.is_dir() else 'special file'}, "
                         "not a file; pass the path of a .npz or .json file.")
    if path.suffix == ".npz":
        raw = _read_npz(path, memory_limit)
    elif path.suffix == ".json":
        raw = _read_json(path, memory_limit)
        for k in FILE_KEYS:
            if k in raw and _depth(raw[k]) > 3:
                raise ValueError(f"{path}: field {k} is nested more than 3 levels deep; R_soft and R_hard are "
                                 "(K or h, X, n) arrays, pi_ref (X, n), rho and w vectors, beta a number.")
            if k in raw:
                _refuse_non_numbers(path, k, raw[k])
    else:
        raise ValueError(f"instance file {str(path)!r}: suffix {path.suffix!r}; use .npz or .json.")
    missing = [k for k in FILE_KEYS if k not in raw]
    if missing:
        raise ValueError(f"{path}: missing field(s) {missing}; an instance needs {list(FILE_KEYS)} "
                         "(R_hard with thresholds already subtracted).")
    name = raw.get("name", path.stem)
    if not isinstance(name, str):
        arr = np.asarray(name)
        if arr.ndim != 0 or arr.dtype.kind not in "US":
            raise ValueError(f"{path}: field name must be a string, got {type(name).__name__} "
                             f"{str(name)[:40]!r}; write the instance's label as a string.")
        name = str(arr)
    clean = sanitize_name(name)
    try:
        beta = float(np.asarray(raw["beta"]))
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{path}: field beta = {str(raw['beta'])[:40]!r} is not a number; pass a float >= 0.") from None
    fields = {}
    for k in ("rho", "pi_ref", "R_soft", "w", "R_hard"):  # ragged or non-numeric arrays named by field
        try:
            with np.errstate(all="ignore"):
                fields[k] = np.asarray(raw[k], dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as exc:
            why = "rows of different lengths (a ragged array)" if "sequence" in str(exc) or "inhomogeneous" in str(exc) \
                else f"entries that are not numbers ({str(exc)[:60]})"
            raise ValueError(f"{path}: field {k} has {why}; write it as a rectangular array of numbers "
                             "(R_soft and R_hard (K or h, X, n), pi_ref (X, n), rho and w vectors).") from None
    meta = {"file": str(path)}
    if clean != name:
        meta["name_sanitized_from"] = repr(name[:200])
    try:
        return Problem(rho=fields["rho"], pi_ref=fields["pi_ref"], R_soft=fields["R_soft"], w=fields["w"],
                       R_hard=fields["R_hard"], beta=beta, name=clean, meta=meta)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def sanitize_name(name: str) -> str:
    """A one-line, printable label: control and format characters (newlines, escapes, bidi overrides,
    U+2028/2029) become ``\\uXXXX`` escapes and ``|`` becomes ``/`` (it would split a Markdown table cell);
    at most NAME_MAX_CHARS characters."""
    import unicodedata

    out = []
    for ch in name:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
            out.append(f"\\u{ord(ch):04x}")
        elif ch == "|":
            out.append("/")
        else:
            out.append(ch)
    clean = "".join(out)
    return clean if len(clean) <= NAME_MAX_CHARS else clean[:NAME_MAX_CHARS - 3] + "..."
