"""Convex-programming baselines (cvxpy with Clarabel or SCS, the ``[convex]`` extra): the
bisection + SDP of paper 001's reference [28] (``sdp_bisection``), paper 000's CCPA
(SDR + convex-concave iterations, ``ccpa``) and paper 003's SCA baseline of problem 32 (sum
rate s.t. per-BS power and SPEB <= gamma as LMIs, ``sca_speb``). cvxpy is imported when a
solver runs, never when this package or the registry is imported."""
