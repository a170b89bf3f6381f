"""Flowgraphs the package runs, as grcc generates them from ``flowgraphs/*.grc``.

``cfisac_sim.py`` is grcc's output for ``flowgraphs/cfisac_sim.grc`` (the ``cfisac demo``
chain), kept here so an installed package has it; ``flowgraphs/cfisac_sim.py`` links to it, so
GNU Radio Companion's "Generate" and ``grcc -o flowgraphs`` rewrite this file. Regenerate with
``GRC_BLOCKS_PATH=grc grcc -o gr_cfisac/flowgraphs flowgraphs/cfisac_sim.grc``.
"""
