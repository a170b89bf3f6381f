"""BLAS and OpenMP threads where GNU Radio blocks run (issue 16).

A flowgraph already runs one thread per block; each of them calling a multi-threaded BLAS on
the small matrices of a coherence block (4 x 4 solves, 16 x 16 eigendecompositions) only adds
hand-offs between BLAS threads and the block threads competing for the same cores — the
oversubscription OpenBLAS is known for (a measured 1.2-1.8x slowdown of the Table-I chain on
two cores). So every cfisac block limits them before its first ``work()``:
:func:`enter_block_thread`, called by ``blocks._base.CoherenceBlock``.

What takes effect where (threadpoolctl):

- BLAS libraries (OpenBLAS, MKL, BLIS; numpy's and scipy's bundled ones alike) keep one
  thread count per process: the first block to run sets it for the whole process, so the
  main thread too uses that many BLAS threads from then on, until :func:`restore` or the end
  of the process (a notebook that ran a flowgraph and then wants threaded BLAS calls
  :func:`restore`),
- OpenMP's thread count is per calling thread: every block thread sets its own, once.

The environment variable ``CFISAC_BLAS_THREADS`` (:data:`ENV_VAR`) sets the count: unset or
empty: 1 (the default); a positive integer: that many; ``0``: leave the libraries alone
(opt out, e.g. a flowgraph of one block on a many-core host). numpy only otherwise (this module
imports neither gnuradio nor torch).
"""

from __future__ import annotations

import os
import threading

from threadpoolctl import threadpool_info, threadpool_limits

#: Environment variable with the BLAS/OpenMP threads of a block thread (0: no limit).
ENV_VAR = "CFISAC_BLAS_THREADS"
#: Threads per block thread when the variable is unset.
DEFAULT_THREADS = 1

_lock = threading.Lock()
_limiter = None  # threadpoolctl's limiter holding the process's original limits (or None)


def configured_threads(environ: dict[str, str] | None = None) -> int | None:
    """Threads per block thread from ``CFISAC_BLAS_THREADS`` (default 1); None: no limit."""
    text = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    if not text:
        return DEFAULT_THREADS
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise ValueError(
            f"{ENV_VAR}={text!r}: set it to a positive number of BLAS threads per GNU Radio "
            "block thread, or 0 to leave BLAS and OpenMP threads alone"
        )
    return count or None


def enter_block_thread(threads: int | None = None) -> int | None:
    """Limit BLAS (process-wide) and OpenMP (this thread) to ``threads`` threads.

    threads None: :func:`configured_threads`; 0: no limit. Call it once per thread (it inspects the loaded
    libraries, ~1 ms); thread-safe. -> the limit applied (None: none, the opt-out).
    """
    global _limiter
    limit = configured_threads() if threads is None else int(threads)
    if not limit:
        return None
    with _lock:
        # BLAS for the process (again: a block may have loaded another library since), OpenMP
        # for this thread; the first limiter remembers the original limits for restore()
        limiter = threadpool_limits(limits=limit)
        _limiter = limiter if _limiter is None else _limiter
    return limit


def restore() -> None:
    """Give the process's BLAS libraries back the thread counts they had before the first
    block ran (OpenMP in the threads that set a limit is left as it is)."""
    global _limiter
    with _lock:
        if _limiter is not None:
            _limiter.restore_original_limits()
        _limiter = None


def blas_threads() -> dict[str, int]:
    """{library file name: its current thread count} for every BLAS library loaded."""
    return {
        os.path.basename(lib["filepath"]): int(lib["num_threads"])
        for lib in threadpool_info()
        if lib["user_api"] == "blas"
    }
