"""Decentralized teacher-student precoders of paper 001 (torch): one network per access point
(models), the losses of eqs 2, 6, 10-12 (losses), the three-stage training (trainer), the
recipe (config) and the per-AP ONNX export (export). ``cfisac train --family teacher-student``."""
