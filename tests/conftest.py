import numpy as np
import pytest

from gr_cfisac.config import SystemConfig


@pytest.fixture
def cfg() -> SystemConfig:
    return SystemConfig()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
