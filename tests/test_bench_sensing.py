"""The sensing bench's named scene (issue 16): the "esprit" MUSIC method, which searches fewer
blocks where a source is within the noise, localizes the target as the fast search does."""

import numpy as np

from gr_cfisac.bench.sensing import FRACTIONS, SCENE_VARIANTS, paper_scene


def test_esprit_localizes_the_named_scenes_target_as_the_fast_search():
    scene = paper_scene({"scene": 24})
    names = {name for name, _, _ in SCENE_VARIANTS}
    assert names == {"plain", "fb", "esprit"}
    for fraction in FRACTIONS:
        entry = scene["4x4"]["fractions"][str(fraction)]
        assert names <= set(entry)
        plain, esprit = entry["plain"], entry["esprit"]
        np.testing.assert_allclose(
            esprit["fused_median_position_error_m"], plain["fused_median_position_error_m"],
            rtol=1e-6,
        )  # fmt: skip
        np.testing.assert_allclose(esprit["rmse_deg_per_rap"], plain["rmse_deg_per_rap"], rtol=1e-6)
        assert esprit["found_within_2deg_per_rap"] == plain["found_within_2deg_per_rap"]
