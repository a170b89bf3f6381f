import numpy as np
import pytest

from gr_cfisac.config import SystemConfig


@pytest.fixture
def cfg() -> SystemConfig:
    return SystemConfig()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def platform():
    """GNU Radio Companion's platform with our grc/*.block.yml loaded (built once per run)."""
    import os
    from pathlib import Path

    os.environ["GRC_BLOCKS_PATH"] = str(Path(__file__).resolve().parents[1] / "grc")
    from gnuradio.grc.core.platform import Platform

    from gnuradio import gr

    p = Platform(
        name="cfisac-tests",
        prefs=gr.prefs(),
        version=gr.version(),
        version_parts=(gr.major_version(), gr.api_version(), gr.minor_version()),
    )
    p.build_library()
    return p
