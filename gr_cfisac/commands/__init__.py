"""The ``cfisac`` sub-commands, one module each (gr_cfisac.cli lists them in ``COMMANDS``).

Every module has ``HELP`` (one line), ``DESCRIPTION`` (what ``--help`` shows),
``add_arguments(parser)`` and ``run(args) -> int``, and holds only the command-line side: the
work is done by the library modules it calls (demo, replay, sigmf_io, service, train, ...),
imported inside ``run`` so that ``cfisac --help`` stays fast and needs neither GNU Radio nor torch.
"""
