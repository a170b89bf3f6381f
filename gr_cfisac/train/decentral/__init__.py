"""Decentralized teacher-student precoders of paper 001 (torch): one network per access point
(models), the losses of eqs 2, 6, 10-12 (losses), the three-stage training (trainer), the
recipe (config) and the per-AP ONNX export (export); the same per-TAP networks on the Table-I
cell-free network trained on STCIB's eq 23a objective (cellfree). ``cfisac train --family
teacher-student``."""
