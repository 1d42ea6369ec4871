"""JAX's persistent compilation cache for the neural studies (a warm run skips XLA compilation).

The first run of ``sec-4-stability`` or ``alg-3-neural`` on a machine compiles its jitted steps (15-45 s of
a quick run on a loaded 2-core box); the compiled executables are written to a user cache directory and
later runs -- and every worker process of the same run -- load them instead. The cache holds compiled
programs (the same program gives the same numbers) and, under ``pretrained/``, the pretrained reference LMs
(:func:`.language.pretrained`: the arrays it computed, keyed on everything they depend on), so results do
not depend on whether it was warm.

Directory: ``$OPDCHECK_JAX_CACHE`` if set (``off`` disables the cache), else
``$XDG_CACHE_HOME/opdcheck/jax`` (``~/.cache/opdcheck/jax``).
"""
from __future__ import annotations

import os
from pathlib import Path

_DONE = False


def cache_dir() -> Path | None:
    """The cache directory, or ``None`` when ``OPDCHECK_JAX_CACHE=off``."""
    env = os.environ.get("OPDCHECK_JAX_CACHE", "")
    if env.lower() == "off":
        return None
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "opdcheck" / "jax"


def enable_compilation_cache() -> Path | None:
    """Point JAX's persistent compilation cache at :func:`cache_dir` (idempotent; every compile cached)."""
    global _DONE
    d = cache_dir()
    if _DONE or d is None:
        return d
    import jax

    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only home: run uncached rather than fail
        return None
    jax.config.update("jax_compilation_cache_dir", str(d))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _DONE = True
    return d
