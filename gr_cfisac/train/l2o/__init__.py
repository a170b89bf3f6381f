"""MT-SAO-lift: the masked-Transformer learning-to-optimize precoder of paper 002 (torch).

One model serves every active (K, N) <= (Km, Nm) of the ``mu_miso`` scenario
(:mod:`gr_cfisac.mumiso`): :mod:`.ops` (masked sum rate of eq 3, its closed-form gradient, the
ascent steps of eq 8, LMMSE of eq 5), :mod:`.model` (the masked Transformer layer of Fig. 2 and
the SAO-lift / SAO stacks of eqs 10-11), :mod:`.config` (the recipe, YAML; no torch),
:mod:`.trainer` (Algorithm 1) and :mod:`.export` (ONNX graph + model card). Importing this
package does not import torch.
"""
