"""Where the compiled Numba kernels are cached on disk, keyed on the source of EVERY kernel file.

Public API::

    configure_cache() -> str | None      # the cache folder (None: no disk cache); decided once per process
    kernel_sources() -> list[Path]       # the files whose text keys the cache
    sources_hash(paths=None) -> str      # hex digest of their contents (names and bytes)
    njit(...)                            # numba.njit; with cache=True the dispatcher caches in that folder

Why a hash of all kernel sources
--------------------------------
Numba's own disk cache is keyed on the decorated function's file (its path and modification time),
the argument types and the CPU. The kernels inline what they import: ``numba_opd.py`` and
``numba_fused.py`` compile ``fastexp.py``'s constants and functions into their own machine code, so
with numba's keying an edit of ``fastexp.py`` would leave the cached ``numba_fused`` kernels stale
(and every check and test using them would run the old exp). Here the folder is
``<base>/<sources_hash()[:16]>``: any edit of any kernel source (a constant, a helper, this file) is a
new folder, so everything compiles afresh; unchanged sources load. Old folders are left in place (a
few MB each; delete ``<base>`` to reclaim them). Inside it nothing depends on where the sources live or
when they were written (:class:`_KernelLocator`): a fresh clone of the same sources, at another path, loads
the kernels an earlier checkout compiled.

``OPDCHECK_NUMBA_CACHE`` decides ``<base>``:

* unset or ``1``: ``$NUMBA_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/opdcheck/numba`` (``~/.cache/opdcheck/numba``);
* ``0``: no disk cache (every process compiles);
* any other value: that folder.

A folder that cannot be created or written turns the cache off with a warning. Nothing process-wide is
changed (numba's ``config.CACHE_DIR``, the environment): the folder is given to opdcheck's own
dispatchers only, through a cache locator, when their module is imported. Worker processes compute
the same folder from the same environment and sources.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numba
from numba.core import caching as _caching

__all__ = ["configure_cache", "kernel_sources", "sources_hash", "njit", "KERNEL_FILES"]

#: the files compiled into the kernels (the jitted modules and what they inline); this file too, since
#: it decides the cache layout
KERNEL_FILES = ("fastexp.py", "numba_opd.py", "numba_fused.py", "numba_alg3.py", "numba_stochastic.py", "numba_cache.py")

_UNSET = object()
_folder: object = _UNSET


def kernel_sources(root: Path | None = None) -> list[Path]:
    """The kernel source files (in ``root``, default: this package's folder)."""
    base = Path(__file__).resolve().parent if root is None else Path(root)
    return [base / name for name in KERNEL_FILES]


def sources_hash(paths: list[Path] | None = None) -> str:
    """sha256 over the names and bytes of the kernel sources (a missing file hashes as absent)."""
    hsh = hashlib.sha256()
    hsh.update(f"numba {numba.__version__}\n".encode())
    for p in kernel_sources() if paths is None else paths:
        hsh.update(p.name.encode() + b"\0")
        try:
            hsh.update(p.read_bytes())
        except OSError:
            hsh.update(b"<absent>")
        hsh.update(b"\0")
    return hsh.hexdigest()


def _base_folder() -> str | None:
    v = os.environ.get("OPDCHECK_NUMBA_CACHE", "1").strip()
    if v == "0":
        return None
    if v in ("", "1"):
        if os.environ.get("NUMBA_CACHE_DIR"):
            return os.environ["NUMBA_CACHE_DIR"]
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(xdg, "opdcheck", "numba")
    return os.path.abspath(os.path.expanduser(v))


def configure_cache() -> str | None:
    """The disk-cache folder of the kernels, ``<base>/<hash of the kernel sources>`` (None: off).

    Decided at the first call of the process (the kernels' modules call it when they are imported, before
    anything compiles) and the same afterwards."""
    global _folder
    if _folder is not _UNSET:
        return _folder  # type: ignore[return-value]
    base = _base_folder()
    folder = None if base is None else os.path.join(base, sources_hash()[:16])
    if folder is not None:
        try:  # numba cannot load or save in a folder it cannot write: no cache rather than an error later
            os.makedirs(folder, exist_ok=True)
            if not os.access(folder, os.W_OK):
                raise OSError(f"{folder} is not writable")
        except OSError as exc:
            warnings.warn(f"opdcheck: Numba disk cache off ({exc}); set OPDCHECK_NUMBA_CACHE to a writable "
                          f"folder, or to 0.", RuntimeWarning, stacklevel=2)
            folder = None
    _folder = folder
    return folder


# numba renamed its locator classes (0.59: _UserProvidedCacheLocator -> UserProvidedCacheLocator)
_Base = getattr(_caching, "UserProvidedCacheLocator", None) or getattr(_caching, "_UserProvidedCacheLocator")


class _KernelLocator(_Base):  # type: ignore[misc, valid-type]
    """Numba's user-folder locator, pointed at :func:`configure_cache`'s folder instead of ``config.CACHE_DIR``,
    and keyed on content only, so that a fresh checkout (another path, new modification times) of the same
    sources loads what an earlier one compiled:

    * the subfolder is the kernel file's name (numba's default hashes the file's full path into it); the
      parent folder already is the hash of every kernel source, and the kernel file names are distinct;
    * the index's freshness stamp is that hash (numba's default is the file's modification time and size,
      which a clone or a copy changes without changing a byte).

    The rest of numba's index key is path-free (the signature, the CPU and the hash of the function's
    bytecode and closure variables), and numba's own version is both in the hash and checked by the index.
    """

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = os.path.join(configure_cache(), Path(py_file).stem)

    def get_source_stamp(self):
        return ("opdcheck kernel sources", os.path.basename(configure_cache()))

    @classmethod
    def from_function(cls, py_func, py_file):
        if configure_cache() is None:
            return None
        self = cls(py_func, py_file)
        try:
            self.ensure_cache_path()
        except OSError:
            return None
        return self


class _KernelCacheImpl(_caching.CompileResultCacheImpl):
    _locator_classes = [_KernelLocator]


class _KernelCache(_caching.FunctionCache):
    _impl_class = _KernelCacheImpl


def njit(*args, cache: bool = False, **options):
    """``numba.njit`` whose ``cache=True`` stores in :func:`configure_cache`'s folder (keyed on every
    kernel source) instead of numba's per-file default; ``cache=False`` or no folder: no disk cache."""
    def wrap(fn):
        disp = numba.njit(**options)(fn)
        if cache and configure_cache() is not None:
            disp._cache = _KernelCache(disp.py_func)  # what Dispatcher.enable_caching does, with our locator
        return disp
    if args and callable(args[0]) and len(args) == 1:
        return wrap(args[0])
    if args:
        raise TypeError("opdcheck.kernels.numba_cache.njit: pass options as keywords (signatures are not used).")
    return wrap


#: True when the kernels are cached on disk (the folder is :func:`configure_cache`'s)
CACHE = configure_cache() is not None
