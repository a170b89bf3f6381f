"""Torch training sidecar for the learned precoders (STCIB paper, section V).

The only package that imports torch. Its numpy-only halves live in the core:
:mod:`gr_cfisac.recipe` (hyper-parameters, YAML) and :mod:`gr_cfisac.dataset` (Monte-Carlo data,
cached). Modules here: :mod:`.layers` (named layers
mirroring the paper's blocks), :mod:`.models` (STCIB, its literal PMA_{K+1} variant, the
target-aware STCIB and the CNN baseline), :mod:`.losses` (rates and losses 38-40 in torch),
:mod:`.trainer` (Adam, early stopping, checkpoints) and :mod:`.export` (ONNX + model card); the
``cfisac train / export / evaluate`` commands are in :mod:`gr_cfisac.commands`. Importing this
package does not import torch.
"""
