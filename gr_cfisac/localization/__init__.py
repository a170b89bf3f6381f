"""From MUSIC peaks to a target position: target association, the localization error of eq 43,
and multistatic least-squares fusion of the RAPs' angles into a position in metres.

Angles are radians. Errors are taken after mapping both directions to the canonical range
(arrays.canonical_angles) with the azimuth difference wrapped (arrays.wrap_angle), as eq 43
compares (psi, theta) pairs; directions are matched by the angle between them.

Modules: :mod:`.errors` (eq 43 and the angle between directions), :mod:`.association` (which
peak is the target; the clutter map), :mod:`.fusion` (the multistatic position fix).
"""

from __future__ import annotations

from .association import ClutterMap, associate_target, pick
from .errors import angle_errors, localization_error, localization_rmse, separation
from .fusion import PositionFix, fuse_position

__all__ = [
    "ClutterMap",
    "PositionFix",
    "angle_errors",
    "associate_target",
    "fuse_position",
    "localization_error",
    "localization_rmse",
    "pick",
    "separation",
]
