"""The cfisac PMT message convention: moved to :mod:`gr_cfisac.blocks.messages` (it imports
``pmt``, so it lives with the GNU Radio adapters); re-exported here for the precoder service."""

from .blocks.messages import MalformedMessage, from_pmt, to_pmt

__all__ = ["MalformedMessage", "to_pmt", "from_pmt"]
