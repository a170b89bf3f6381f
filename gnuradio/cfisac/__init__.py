"""``from gnuradio import cfisac``: the GNU Radio-style entry point to gr-cfisac's blocks.

This directory deliberately has no ``gnuradio/__init__.py`` beside it: GNU Radio's own
``gnuradio/__init__.py`` extends its ``__path__`` over every ``gnuradio/`` directory on
``sys.path`` (pkgutil.extend_path), which is how out-of-tree modules join the namespace.
"""

from gr_cfisac import *  # noqa: F401,F403
from gr_cfisac import SystemConfig, __version__  # noqa: F401

try:  # blocks need GNU Radio; the numerical core does not
    from gr_cfisac.blocks import *  # noqa: F401,F403
except ImportError as exc:  # pragma: no cover - without GNU Radio's runtime there are no blocks
    if exc.name not in ("gnuradio.gr", "pmt"):
        raise  # a broken block module must not hide every block from GRC
