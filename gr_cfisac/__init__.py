"""gr-cfisac: cell-free integrated sensing and communication for GNU Radio."""

from .config import SystemConfig

__version__ = "0.1.0"
__all__ = ["SystemConfig", "__version__"]
