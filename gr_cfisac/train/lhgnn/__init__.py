"""LHGNN of paper 003 (eqs 33-51) and its Section IV-B baselines (Homo GNN, naive CNN) in the
torch sidecar: models, the differentiable SPEB and loss of eq 51, training, ONNX export."""
