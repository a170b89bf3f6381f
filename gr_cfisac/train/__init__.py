"""Torch training sidecar for the learned precoders (STCIB paper, section V).

The only package that imports torch. Modules: :mod:`.config` (hyper-parameters, YAML),
:mod:`.data` (Monte-Carlo data from the core, cached, numpy only), :mod:`.layers` (named layers
mirroring the paper's blocks), :mod:`.models` (STCIB, its literal PMA_{K+1} variant, the
target-aware STCIB and the CNN baseline), :mod:`.losses` (rates and losses 38-40 in torch),
:mod:`.trainer` (Adam, early stopping, checkpoints) and :mod:`.export` (ONNX + model card); the
``cfisac train / export / evaluate`` commands are in :mod:`gr_cfisac.commands`. Importing this
package does not import torch.
"""
