"""Benchmarks behind ``make bench`` / ``cfisac bench``: each writes bench/NAME.json (and plots).

Speed figures are reported as ratios measured within one run (the machine is shared and noisy).
"""

#: benchmark name -> module with run(out_dir: pathlib.Path, quick: bool) -> dict
BENCHMARKS: dict[str, str] = {
    "core": "gr_cfisac.bench.core",
    "precoders": "gr_cfisac.bench.precoders",
    "flowgraph": "gr_cfisac.bench.flowgraph",
    "sensing": "gr_cfisac.bench.sensing",
    "io": "gr_cfisac.bench.io",
    "fuzz_replay": "gr_cfisac.bench.fuzz_replay",
    "soak": "gr_cfisac.bench.soak",
    "l2o": "gr_cfisac.bench.l2o",
    "realtime": "gr_cfisac.bench.realtime",
    "teacher-student": "gr_cfisac.bench.teacher_student",
    "ccpa": "gr_cfisac.bench.ccpa",
    "stcib_studies": "gr_cfisac.bench.stcib_studies",
    "lhgnn": "gr_cfisac.bench.lhgnn",
}
