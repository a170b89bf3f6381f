"""Parameter sweeps: the project's one runner (:func:`run_points`, on Dask or in process) and
its content-addressed on-disk cache (:class:`Cache`, :func:`point_key`). numpy only; dask is
imported when a cluster is needed (``pip install -e '.[sweep]'``). See docs/sweeps.md."""

from .cache import Cache, Record, as_record, point_key
from .cluster import default_workers, plan
from .runner import call_point, function_name, point_seeds, run_points

__all__ = [
    "Cache",
    "Record",
    "as_record",
    "call_point",
    "default_workers",
    "function_name",
    "plan",
    "point_key",
    "point_seeds",
    "run_points",
]
