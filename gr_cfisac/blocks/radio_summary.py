"""What a radio RAP flowgraph measured, printed and written as JSON after it stops (a GRC
snippet): the fixes (:mod:`gr_cfisac.blocks.fix_summary`) and the receiver's timing -- the
coherence blocks aligned, the first one, and every break in the stream (overflow) with the
blocks it lost, from its CF-ISAC Time Align."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..replay.report import finite_only
from .fix_summary import format_summary, summarize_fixes


def timing_summary(align: Any) -> dict[str, Any]:
    """The Time Align block's counts and losses as a dict."""
    a = align.aligner
    return {
        "blocks_aligned": int(a.blocks_out),
        "first_cb": getattr(align, "first_cb", None),
        "breaks": int(a.breaks),
        "blocks_lost": int(a.blocks_lost),
        "samples_lost": int(a.samples_lost),
        "dropped_before_time": int(a.dropped_untimed),
        "dropped_outside_blocks": int(a.dropped_early),
        "losses": [
            {
                "first_lost": loss.first_lost,
                "blocks_lost": loss.blocks_lost,
                "samples_lost": loss.samples_lost,
                "resumed_cb": loss.next_cb,
                "rx_time_s": loss.resumed_at.seconds(),
            }
            for loss in align.losses
        ],
    }


def format_timing(t: dict[str, Any]) -> str:
    """The timing summary as terminal lines."""
    lines = [
        f"  receiver: {t['blocks_aligned']} blocks aligned on the radio-time grid"
        + (f" from block {t['first_cb']}" if t["first_cb"] is not None else "")
        + f"; {t['breaks']} break(s) in the stream, {t['blocks_lost']} block(s) lost"
    ]
    lines += [
        f"    at {x['rx_time_s']:.6f} s: {x['samples_lost']} samples, blocks "
        f"{x['first_lost']}..{x['resumed_cb'] - 1} lost"
        for x in t["losses"][:10]
    ]
    return "\n".join(lines)


def report_radio_run(tb: Any, json_path: str = "") -> dict[str, Any]:
    """Print and write (``json_path``, default the fix path with .json) what a finished radio
    RAP flowgraph ``tb`` measured (its cfg, fix_path, capture, num_blocks, head and align)."""
    summary = summarize_fixes(tb.cfg, tb.fix_path, getattr(tb, "capture", ""))
    head = getattr(tb, "head", None)
    summary["asked_blocks"] = int(getattr(tb, "num_blocks", 0))
    summary["ended"] = (
        "the stream went quiet (idle timeout)"
        if getattr(head, "timed_out", False)
        else "num_blocks reached or the stream ended"
    )
    summary["timing"] = timing_summary(tb.align)
    print(format_summary(summary, summary["ended"]), flush=True)
    print(format_timing(summary["timing"]), flush=True)
    path = Path(json_path or Path(tb.fix_path).with_suffix(".json"))
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(finite_only(summary), indent=2, allow_nan=False) + "\n")
    tmp.replace(path)
    print(f"  summary: {path}", flush=True)
    return summary
