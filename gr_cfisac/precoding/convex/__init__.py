"""Convex-programming baselines (cvxpy with Clarabel or SCS, the ``[convex]`` extra): the
bisection + SDP of paper 001's reference [28] (``sdp_bisection``). cvxpy is imported when a
solver runs, never when this package or the registry is imported."""
