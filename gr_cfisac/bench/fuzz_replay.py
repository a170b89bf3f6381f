"""Fuzzing replay: mutated captures through ``cfisac replay`` and through a flowgraph
(``sigmf_source`` -> MUSIC), counting tracebacks and non-finite numbers printed as results.

A small but real capture (the simulated chain recorded with the "replay" preset: RAP echoes,
truth, geometry, TAP pilots and statistics) is mutated the ways radios, recorders and people
damage captures: non-finite, silent, saturated, huge and denormal samples, reordered and
duplicated block indices, truth set to zero, metadata with overflowing numbers, long names,
streams listed twice, junk fields, truncated data. Sample mutations reseal the checksums (a
radio's own recording is self-consistent); metadata mutations keep them. Each case must end in
a report (exit 0) or one error message (exit 2): never a traceback, never NaN or infinity
printed as a result. Seeded: the same seed gives the same cases.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shutil
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: the capture's configuration: small, and its MUSIC identifiable (3 sources on 2x3 RAPs)
CONFIG = {"NT": 2, "NR": 2, "K": 2, "MR_shape": (2, 3), "tau_c": 40, "tau_p": 2}
BLOCKS = 6
#: a non-finite number where a result is printed: the words Python and JSON use for them
NONFINITE = re.compile(r"(?<![\w.])-?(nan|inf|infinity|NaN|Infinity)(?![\w])", re.IGNORECASE)


def base_capture(folder: Path) -> Path:
    """Record BLOCKS blocks of the simulated chain (every stream replay scores)."""
    from gnuradio import gr

    from ..blocks import build_chain
    from ..blocks.sigmf_sink import sigmf_sink
    from ..config import SystemConfig

    cfg = SystemConfig(**CONFIG)
    tb = gr.top_block()
    ch = build_chain(tb, cfg, seed=3, num_blocks=BLOCKS)
    NT, NR = cfg.NT, cfg.NR
    sink = sigmf_sink(cfg, str(folder / "base"), preset="replay")
    for j in range(NR):
        tb.connect((ch.echo, j), (sink, j))
    tb.connect((ch.scenario, 2 * NT), (sink, NR))
    tb.connect((ch.scenario, 2 * NT + 1), (sink, NR + 1))
    for i in range(NT):
        tb.connect((ch.scenario, i), (sink, NR + 2 + i))
        tb.connect((ch.scenario, NT + i), (sink, NR + 2 + NT + i))
    tb.run()
    return sink.collection_path


# ---------------------------------------------------------------------------- mutations


def _data_files(case: Path) -> list[Path]:
    return sorted(case.glob("*.sigmf-data"))


def _samples(path: Path) -> np.ndarray:
    return np.fromfile(path, dtype=np.complex64)


def _pick_block(x: np.ndarray, rng: np.random.Generator) -> slice:
    """A random run of samples (about a coherence block's worth)."""
    n = max(1, x.size // BLOCKS)
    start = int(rng.integers(0, max(1, x.size - n + 1)))
    return slice(start, start + n)


def _samples_mutation(kind: str):
    def mutate(case: Path, rng: np.random.Generator) -> str:
        path = _data_files(case)[int(rng.integers(len(_data_files(case))))]
        x = _samples(path)
        where = _pick_block(x, rng)
        if kind == "nan":
            i = int(rng.integers(x.size))
            x[i] = complex(np.nan, x[i].imag) if rng.random() < 0.5 else complex(np.nan, np.nan)
        elif kind == "inf":
            x[int(rng.integers(x.size))] = np.inf
        elif kind == "silent_block":
            x[where] = 0
        elif kind == "silent_stream":
            x[:] = 0
        elif kind == "saturate":
            peak = np.abs(x[where].real).max() / rng.uniform(1.5, 10)
            x[where] = np.clip(x[where].real, -peak, peak) + 1j * np.clip(
                x[where].imag, -peak, peak
            )
        elif kind == "huge":
            x[where] = x[where] * np.float32(rng.choice([1e15, 1e30, 3e38]))
        elif kind == "denormal":
            x[:] = x * np.float32(1e-42)
        elif kind == "bitflip":
            raw = x.view(np.uint8)
            for i in rng.integers(0, raw.size, size=int(rng.integers(1, 20))):
                raw[i] ^= np.uint8(1 << int(rng.integers(8)))
        x.tofile(path)
        return f"{kind} in {path.name}"

    return mutate


def _meta_docs(case: Path) -> list[Path]:
    return sorted(case.glob("*.sigmf-meta"))


def _edit_meta(case: Path, rng: np.random.Generator, edit) -> str:
    path = _meta_docs(case)[int(rng.integers(len(_meta_docs(case))))]
    doc = json.loads(path.read_text())
    what = edit(doc, rng)
    path.write_text(json.dumps(doc))
    return f"{what} in {path.name}"


def _cb_reversed(doc: dict, rng) -> str:
    cbs = [a for a in doc["annotations"] if "cfisac:cb" in a]
    values = [a["cfisac:cb"] for a in cbs][::-1]
    for a, v in zip(cbs, values):
        a["cfisac:cb"] = v
    return "cb indices in decreasing order"


def _cb_duplicated(doc: dict, rng) -> str:
    cbs = [a for a in doc["annotations"] if "cfisac:cb" in a]
    if len(cbs) > 1:
        cbs[1]["cfisac:cb"] = cbs[0]["cfisac:cb"]
    return "a cb index twice"


def _cb_overflow(doc: dict, rng) -> str:
    cbs = [a for a in doc["annotations"] if "cfisac:cb" in a]
    if cbs:
        cbs[int(rng.integers(len(cbs)))]["cfisac:cb"] = int(rng.choice([2**64, 2**63, -1]))
    return "cb out of uint64"


def _coordinate_overflow(doc: dict, rng) -> str:
    for a in doc["annotations"]:
        if "cfisac:truth" in a:
            a["cfisac:truth"]["target_pos_m"][0] = int("9" * 400)
    return "a 400-digit coordinate"


def _junk_field(doc: dict, rng) -> str:
    junk = [None, True, -1, 0, 2.5, "", "x", [], {}, [1, "a"], 1e308, 10**30]
    g = doc["global"]
    key = ["cfisac:num_items", "cfisac:stream", "core:num_channels", "cfisac:array_shape"]
    k = key[int(rng.integers(len(key)))]
    g[k] = junk[int(rng.integers(len(junk)))]
    return f"junk {k}"


def _annotations_scrambled(doc: dict, rng) -> str:
    rng.shuffle(doc["annotations"])
    return "annotations out of order"


def _collection_edit(kind: str):
    def mutate(case: Path, rng: np.random.Generator) -> str:
        path = next(case.glob("*.sigmf-collection"))
        doc = json.loads(path.read_text())
        streams = doc["collection"]["core:streams"]
        if kind == "stream_twice":
            streams.append(dict(streams[int(rng.integers(len(streams)))]))
        elif kind == "stream_200_times":
            doc["collection"]["core:streams"] = streams * 200
        elif kind == "long_name":
            streams[int(rng.integers(len(streams)))]["name"] = "x" * 300
        elif kind == "geometry_overflow":
            doc["collection"]["cfisac:geometry"]["rap_pos_m"][0][0] = int("9" * 400)
        elif kind == "config_junk":
            doc["collection"]["cfisac:config"]["K"] = rng.choice([0, -1, 10**9, 1.5])
        path.write_text(json.dumps(doc))
        return kind

    return mutate


def _truth_zero(case: Path, rng: np.random.Generator) -> str:
    path = next(case.glob("*truth0.sigmf-data"))
    np.zeros(_samples(path).size, np.complex64).tofile(path)
    return "truth all zeros"


def _truncate(case: Path, rng: np.random.Generator) -> str:
    path = _data_files(case)[int(rng.integers(len(_data_files(case))))]
    raw = path.read_bytes()
    path.write_bytes(raw[: int(rng.integers(0, len(raw)))])
    return f"truncated {path.name}"


#: name -> (mutate(case, rng) -> description, reseal checksums afterwards)
MUTATIONS = {
    **{k: (_samples_mutation(k), True) for k in ("nan", "inf", "silent_block", "silent_stream")},
    **{k: (_samples_mutation(k), True) for k in ("saturate", "huge", "denormal", "bitflip")},
    "truth_zero": (_truth_zero, True),
    "cb_reversed": (lambda c, r: _edit_meta(c, r, _cb_reversed), True),
    "cb_duplicated": (lambda c, r: _edit_meta(c, r, _cb_duplicated), True),
    "cb_overflow": (lambda c, r: _edit_meta(c, r, _cb_overflow), True),
    "coordinate_overflow": (lambda c, r: _edit_meta(c, r, _coordinate_overflow), True),
    "junk_field": (lambda c, r: _edit_meta(c, r, _junk_field), True),
    "annotations_scrambled": (lambda c, r: _edit_meta(c, r, _annotations_scrambled), True),
    **{
        k: (_collection_edit(k), False)
        for k in ("stream_twice", "stream_200_times", "long_name", "geometry_overflow")
    },
    "config_junk": (_collection_edit("config_junk"), False),
    "truncate": (_truncate, False),
}
#: mutations a radio itself can cause: the cases also run through the flowgraph
SAMPLE_MUTATIONS = ("nan", "inf", "silent_block", "silent_stream", "saturate", "huge", "denormal")


def reseal(case: Path) -> None:
    """Recompute every data file's core:sha512 and the collection's meta hashes."""
    for meta in _meta_docs(case):
        data = meta.with_suffix(".sigmf-data")
        doc = json.loads(meta.read_text())
        if data.exists() and isinstance(doc.get("global"), dict):
            doc["global"]["core:sha512"] = hashlib.sha512(data.read_bytes()).hexdigest()
            meta.write_text(json.dumps(doc, indent=2))
    for coll in case.glob("*.sigmf-collection"):
        doc = json.loads(coll.read_text())
        for s in doc["collection"].get("core:streams", []):
            meta = case / f"{s.get('name')}.sigmf-meta"
            if isinstance(s.get("name"), str) and len(s["name"]) < 200 and meta.exists():
                s["hash"] = hashlib.sha512(meta.read_bytes()).hexdigest()
        coll.write_text(json.dumps(doc, indent=2))


# ---------------------------------------------------------------------------- running cases


@dataclass
class Outcome:
    exit_code: int | None
    traceback: str | None = None
    nonfinite: list[str] = field(default_factory=list)


def run_replay(collection: Path, json_path: Path) -> Outcome:
    """cfisac replay in this process: its exit code, a traceback if one escaped, and every
    non-finite number it printed or wrote as JSON."""
    from ..cli import main

    out, err = io.StringIO(), io.StringIO()
    json_path.unlink(missing_ok=True)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["replay", str(collection), "--json", str(json_path)])
    except SystemExit as exc:
        code = int(exc.code or 0)
    except BaseException:  # noqa: BLE001 - the fuzzer's job is to catch what escapes
        return Outcome(None, traceback.format_exc())
    text = out.getvalue() + (json_path.read_text() if json_path.exists() else "")
    return Outcome(code, None, NONFINITE.findall(text))


def run_flowgraph(collection: Path) -> Outcome:
    """sigmf_source -> music_localizer on a real top block: refusal at construction is fine
    (one ValueError); once running, MUSIC must give one valid-or-marked item per block."""
    from gnuradio import blocks, gr

    from ..blocks import music_localizer
    from ..blocks.layout import angles_layout
    from ..blocks.qa import run_with_timeout
    from ..blocks.sigmf_source import sigmf_source
    from ..config import SystemConfig

    cfg = SystemConfig(**CONFIG)
    try:
        src = sigmf_source(cfg, str(collection), preset="rap", verify_checksum=True)
    except ValueError:
        return Outcome(2)
    except BaseException:  # noqa: BLE001
        return Outcome(None, traceback.format_exc())
    try:
        tb = gr.top_block()
        mus = music_localizer(cfg, msg_interval=0)
        sinks = [blocks.vector_sink_f(mus.out_ports[j].vlen) for j in range(cfg.NR)]
        for j in range(cfg.NR):
            tb.connect((src, j), (mus, j))
            tb.connect((mus, j), sinks[j])
        run_with_timeout(tb, 60.0)
    except BaseException:  # noqa: BLE001
        return Outcome(None, traceback.format_exc())
    if getattr(src, "error", None) is not None:
        return Outcome(2)
    layout = angles_layout(mus.n_peaks)
    for s in sinks:
        got = layout.unpack(np.asarray(s.data(), np.float32).reshape(-1, layout.size))
        ok = got["validity"][:, 0] == 0
        if not np.all(np.isfinite(got["value"][ok][np.isfinite(got["psi"][ok])])):
            return Outcome(0, None, ["non-finite value in a valid block"])
    return Outcome(0)


def _mutated_case(base: Path, case: Path, names: list[str], rng) -> tuple[Path, list[str]]:
    """A fresh copy of the base capture with the named mutations applied, in order."""
    shutil.rmtree(case, ignore_errors=True)
    shutil.copytree(base.parent, case, ignore=shutil.ignore_patterns("case*", "*.json"))
    what = []
    with np.errstate(all="ignore"):  # huge samples overflow to inf on purpose
        for name in names:
            mutate, seal = MUTATIONS[name]
            what.append(mutate(case, rng))
            if seal:
                reseal(case)
    return case / base.name, what


def _case_rng(seed: int, phase: int, i: int) -> np.random.Generator:
    """Case i's own generator: a resumed run draws exactly the cases an unbroken one would."""
    return np.random.default_rng([seed, phase, i])


def _load_checkpoint(path: Path | None, report: dict[str, Any]) -> dict[str, Any]:
    """The saved report of an interrupted run with the same sizes and seed, else ``report``."""
    if path is None or not path.is_file():
        return report
    saved = json.loads(path.read_text())
    same = all(saved.get(k) == report[k] for k in ("cases", "flowgraph_cases", "seed"))
    return saved if same and saved.get("version") == report["version"] else report


def _save_checkpoint(path: Path | None, report: dict[str, Any]) -> None:
    if path is not None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(report))
        tmp.replace(path)


def fuzz(
    cases: int,
    seed: int = 0,
    folder: Path | None = None,
    flowgraph_cases: int = 0,
    progress: bool = False,
    checkpoint: Path | None = None,
    every: int = 50,
) -> dict[str, Any]:
    """``cases`` captures with 1-3 random mutations of any kind through ``cfisac replay``, then
    ``flowgraph_cases`` captures with 1-3 sample mutations (what a radio sends) through the
    flowgraph. Returns the counts and every failure (a traceback or a non-finite result).

    checkpoint: a JSON file the counts are saved to every ``every`` cases; a run with the same
    sizes and seed picks up where it stopped (each case has its own seeded generator)."""
    import tempfile

    own = folder is None
    folder = Path(tempfile.mkdtemp(prefix="cfisac-fuzz-")) if own else Path(folder)
    names = list(MUTATIONS)
    report: dict[str, Any] = {
        "version": 2,
        "cases": cases,
        "flowgraph_cases": flowgraph_cases,
        "seed": seed,
        "done": {"replay": 0, "flowgraph": 0},
        "replay": {"exit_0": 0, "exit_2": 0, "tracebacks": 0, "nonfinite_reports": 0},
        "flowgraph": {"ran": 0, "refused": 0, "tracebacks": 0, "nonfinite": 0},
        "by_mutation": {n: 0 for n in names},
        "failures": [],
    }
    report = _load_checkpoint(checkpoint, report)

    def steps(n: int, what: str):
        start = report["done"][what]
        if not progress:
            return range(start, n)
        from tqdm import tqdm

        if start:
            print(f"fuzz {what}: resuming at case {start} of {n} ({checkpoint})")
        return tqdm(range(start, n), initial=start, total=n, desc=f"fuzz {what}", unit="case")

    def done(what: str, i: int) -> None:
        report["done"][what] = i + 1
        if (i + 1) % every == 0:
            _save_checkpoint(checkpoint, report)

    try:
        base = base_capture(folder)
        for i in steps(cases, "replay"):
            rng = _case_rng(seed, 0, i)
            chosen = [names[k] for k in rng.choice(len(names), int(rng.integers(1, 4)))]
            for name in chosen:
                report["by_mutation"][name] += 1
            collection, what = _mutated_case(base, folder / "case", chosen, rng)
            res = run_replay(collection, folder / "case" / "report.json")
            r = report["replay"]
            if res.traceback:
                r["tracebacks"] += 1
                report["failures"].append({"case": i, "mutations": what, "replay": res.traceback})
            else:
                r["exit_0" if res.exit_code == 0 else "exit_2"] += 1
            if res.nonfinite:
                r["nonfinite_reports"] += 1
                report["failures"].append({"case": i, "mutations": what, "printed": res.nonfinite})
            done("replay", i)
        for i in steps(flowgraph_cases, "flowgraph"):
            rng = _case_rng(seed, 1, i)
            chosen = list(rng.choice(SAMPLE_MUTATIONS, int(rng.integers(1, 4))))
            collection, what = _mutated_case(base, folder / "case", chosen, rng)
            fg, f = run_flowgraph(collection), report["flowgraph"]
            if fg.traceback:
                f["tracebacks"] += 1
                report["failures"].append({"case": i, "mutations": what, "flowgraph": fg.traceback})
            else:
                f["refused" if fg.exit_code == 2 else "ran"] += 1
            if fg.nonfinite:
                f["nonfinite"] += 1
                report["failures"].append({"case": i, "mutations": what, "flowgraph": fg.nonfinite})
            done("flowgraph", i)
        _save_checkpoint(checkpoint, report)
        return report
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """``cfisac bench fuzz_replay``: 10,000 mutated captures through replay and 10,000 through
    the flowgraph (200 + 50 with --quick); bench/fuzz_replay.json holds the counts. An
    interrupted run resumes from bench/fuzz_replay.partial.json (saved every 50 cases)."""
    from .common import write_report

    n, m = (200, 50) if quick else (10_000, 10_000)
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / f"fuzz_replay{'.quick' if quick else ''}.partial.json"
    report = fuzz(n, seed=2026, flowgraph_cases=m, progress=True, checkpoint=partial)
    report["summary"] = {
        "replay_cases": n,
        "replay_tracebacks": report["replay"]["tracebacks"],
        "replay_nonfinite_reports": report["replay"]["nonfinite_reports"],
        "flowgraph_cases": m,
        "flowgraph_tracebacks": report["flowgraph"]["tracebacks"],
        "flowgraph_nonfinite": report["flowgraph"]["nonfinite"],
    }
    write_report(out_dir, "fuzz_replay", report)
    partial.unlink(missing_ok=True)
    return report
