"""Convex-programming baselines (cvxpy with Clarabel or SCS, the ``[convex]`` extra): the
bisection + SDP of paper 001's reference [28] (``sdp_bisection``) and paper 000's CCPA
(SDR + convex-concave iterations, ``ccpa``). cvxpy is imported when a
solver runs, never when this package or the registry is imported."""
