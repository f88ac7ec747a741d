"""A fuzz campaign: hostile inputs at every door of aespec.

    make fuzz                                    # 100,000 inputs; writes bench/FUZZ.md
    .venv/bin/python bench/fuzz.py --inputs 1500 # the short run tests/test_fuzz.py makes

Doors, each fed seeded random inputs (the same seed gives the same campaign):

    spec       check_source over byte and token mutations of every spec in specs/ and
               every conformance case (flips, insertions, deletions, duplicated and swapped
               tokens, splices of two specs, truncations)
    grammar    check_source over strings drawn from the grammar itself (hypothesis'
               from_lark), with our own words for names
    set        check_source of a valid spec with random `--set KEY=VALUE` overrides
    data       load_data over .npy, .npz, .csv and IDX files with random or mutated bytes
               and headers that lie about their size
    run        load_run over a trained run directory whose run.json, spec or checkpoint
               was mutated, truncated, swapped or emptied

A finding is any exception that is not an AespecError, a diagnostic without a code, or an
input that takes longer than 5 s of CPU time. The campaign runs under an address-space limit, so a
blow-up of memory is a MemoryError finding rather than the machine's end.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import json
import random
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = sorted((ROOT / "specs").glob("*.ae")) + sorted(
    (ROOT / "tests" / "conformance").glob("*/*.ae"))
HANG_SECONDS = 5.0
CODE = re.compile(r"^[EW]\d{3}$")
SHARE = {"spec": 0.55, "grammar": 0.15, "set": 0.2, "data": 0.08, "run": 0.02}


class Hang(Exception):  # noqa: N818
    pass


@dataclass
class Campaign:
    counts: collections.Counter = field(default_factory=collections.Counter)
    findings: list[dict] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")
    replayed: list[str] = field(default_factory=list)  # slow once, fast alone

    def feed(self, door: str, shown: str, fn: Callable[[], object]) -> None:
        """Run one input; record what is not an AespecError (or a clean diagnostic list)."""
        from aespec.errors import AespecError

        self.counts[door] += 1
        if sum(self.counts.values()) % 5000 == 0:
            print(f"{sum(self.counts.values()):,} inputs, {len(self.findings)} findings",
                  flush=True)
        start, rang = time.perf_counter(), [False]
        try:
            with _deadline(HANG_SECONDS, rang):
                result = fn()
            if rang[0]:  # the alarm landed where it could not raise (a gc callback)
                raise Hang
            for d in getattr(result, "diagnostics", []) or []:
                if not CODE.match(d.code):
                    raise AssertionError(f"a diagnostic without a code: {d}")
        except AespecError:
            pass
        except Hang:
            self._slow(door, shown, fn)
        except Exception as exc:  # noqa: BLE001 - every other exception is a finding
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self._found(door, shown, f"{type(exc).__name__}: {str(exc)[:200]} "
                        f"({Path(where.filename).name}:{where.lineno})")
        seconds = time.perf_counter() - start
        if seconds > self.slowest[0]:
            self.slowest = (seconds, f"{door}: {shown[:80]!r}")

    def _slow(self, door: str, shown: str, fn: Callable[[], object]) -> None:
        """A slow input is run again, alone after a full collection: a hang only if it is
        slow again (a collection of the campaign's own garbage can land in any input)."""
        import gc

        from aespec.errors import AespecError

        gc.collect()
        rang = [False]
        start = time.process_time()
        try:
            with _deadline(HANG_SECONDS, rang):
                fn()
        except AespecError:
            pass
        except Hang:
            rang[0] = True
        except Exception:  # noqa: BLE001 - the first run's verdict stands
            pass
        if rang[0]:
            self._found(door, shown, f"took longer than {HANG_SECONDS:g} s, twice")
        else:
            self.replayed.append(f"{door}: {time.process_time() - start:.2f} s on replay "
                                 f"({shown[:60]!r})")

    def _found(self, door: str, shown: str, what: str) -> None:
        self.findings.append({"door": door, "what": what, "input": shown[:300]})


@contextlib.contextmanager
def _deadline(seconds: float, rang: list[bool]) -> Iterator[None]:
    """Hang after `seconds` of this process's CPU time (ITIMER_PROF): a shared, loaded
    machine slows the wall clock, not the work an input costs."""
    def ring(signum, frame):
        rang[0] = True
        raise Hang

    old = signal.signal(signal.SIGPROF, ring)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


# ---------------------------------------------------------------- spec text

TOKEN = re.compile(r"\s+|#[^\n]*|\"[^\"\n]*\"?|[A-Za-z_][A-Za-z_0-9]*|\d[\d.eE+-]*|.", re.S)
NASTY = ["(", ")", "{", "}", ",", "=", "*", "-", "/", "\"", "\n", "\t", "\x00", "\r",
         "\u2028", "9" * 400, "1e999", "-0", "repeat 100000000 {", "let", "on", "é", "\\"]


def mutate(rng: random.Random, text: str, other: str) -> str:
    """One random edit of a spec, by bytes or by tokens."""
    kind = rng.randrange(8)
    if kind == 0 and text:  # flip a byte
        i = rng.randrange(len(text))
        return text[:i] + chr(rng.randrange(1, 0x250)) + text[i + 1:]
    if kind == 1:  # insert something nasty
        i = rng.randrange(len(text) + 1)
        return text[:i] + rng.choice(NASTY) + text[i:]
    if kind == 2 and text:  # delete a span
        i = rng.randrange(len(text))
        return text[:i] + text[i + rng.randrange(1, 40):]
    if kind == 3:  # truncate
        return text[:rng.randrange(len(text) + 1)]
    if kind == 4:  # splice with another spec
        return text[:rng.randrange(len(text) + 1)] + other[rng.randrange(len(other) + 1):]
    tokens = TOKEN.findall(text) or [""]
    i, j = rng.randrange(len(tokens)), rng.randrange(len(tokens))
    if kind == 5:  # duplicate a token, sometimes many times
        tokens.insert(i, tokens[j] * rng.choice((1, 1, 2, 50)))
    elif kind == 6:  # swap two tokens
        tokens[i], tokens[j] = tokens[j], tokens[i]
    else:  # drop a token
        del tokens[i]
    return "".join(tokens)


def spec_inputs(rng: random.Random, n: int) -> Iterator[str]:
    texts = [p.read_text(encoding="utf-8") for p in SEEDS]
    for _ in range(n):
        text = rng.choice(texts)
        for _ in range(rng.choice((1, 1, 2, 3, 8))):
            text = mutate(rng, text, rng.choice(texts))
        yield text


def grammar_inputs(n: int) -> Iterator[str]:
    """Strings of the grammar: hypothesis draws them, we feed them."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from hypothesis.extra.lark import from_lark
    from lark import Lark

    from aespec.parse.syntax import grammar_text

    words = st.sampled_from(["dense", "conv", "relu", "sigmoid", "gaussian", "mse", "bce",
                             "epochs", "x", "width", "mirror", "vector", "image", "digits",
                             "encoder", "decoder", "bottleneck", "train", "report"])
    out: list[str] = []
    strategy = from_lark(Lark(grammar_text(), parser="lalr", lexer="basic"), explicit={
        "NAME": words.map(" {} ".format), "COMMENT": st.just(" "),
        "NUMBER": st.sampled_from(["0", "1", "3", "64", "0.5", "1e400"]).map(" {} ".format)})

    @settings(max_examples=n, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(text: str) -> None:
        out.append(text)

    collect()
    return iter(out)


def set_inputs(rng: random.Random, n: int) -> Iterator[tuple[str, list[str]]]:
    base = (ROOT / "specs" / "denoising_conv.ae").read_text(encoding="utf-8")
    keys = ["width", "train.epochs", "train.batch", "train.optimizer", "train.split",
            "train.seed", "train.device", "train.schedule", "train.early_stop", "report.samples",
            "report.filters", "nope", "train.nope", "model.name", "", "train.", ".x"]
    values = ["0", "-1", "1e400", "2", "adam(lr=1e6)", "sgd(lr=0.1, momentum=2)", "cuda:99",
              "(", ")", "\"x\"", "true", "width", "width * 2", "1/0", "", "=", "9" * 300,
              "(patience=0)", "cosine", "step(every=0)", "gpu", "\n", "plateau(factor=2)"]
    for _ in range(n):
        sets = [f"{rng.choice(keys)}{rng.choice(['=', '=', ' = ', ''])}{rng.choice(values)}"
                for _ in range(rng.randrange(1, 4))]
        yield base, sets


# ---------------------------------------------------------------- data files


def data_inputs(rng: random.Random, n: int, folder: Path) -> Iterator[tuple[str, dict, Path]]:
    """(source, args, file) with contents that lie: random bytes, huge headers, fields."""
    import gzip
    import io
    import struct
    import zipfile

    import numpy as np

    def npy(shape_text: str) -> bytes:
        header = ("{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_text + ", }")
        header += " " * (-(len(header) + 11) % 64) + "\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()

    good = io.BytesIO()
    np.save(good, np.random.default_rng(0).random((20, 64), dtype=np.float32))
    makers = [
        lambda: ("npy", npy(rng.choice(["(100000000000, 64)", "(20, 64)", "(-1,)", "()",
                                        "(2, 2, 2, 2, 2, 2, 2, 2)", "'x'"]))
                 + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))),
        lambda: ("npy", bytearray(good.getvalue())[:rng.randrange(len(good.getvalue()))]),
        lambda: ("npy", bytes(rng.randrange(256) for _ in range(rng.randrange(0, 400)))),
        lambda: ("npz", _zip_bomb(zipfile, rng)),
        lambda: ("csv", ("a,b,c\n" + "\n".join(",".join(rng.choice(
            ["1", "x", "", "nan", "1e400", "0" * rng.choice((1, 200_000))]) for _ in range(3))
            for _ in range(rng.randrange(0, 20)))).encode()),
        lambda: ("idx", gzip.compress(struct.pack(">I", 0x0803) + struct.pack(
            ">III", rng.choice((0xFFFFFFFF, 5, 0)), rng.choice((65535, 28, 0)),
            rng.choice((65535, 28, 1))) + bytes(rng.randrange(256)
                                              for _ in range(rng.randrange(0, 100))))),
    ]
    for i in range(n):
        kind, content = rng.choice(makers)()
        if kind == "idx":
            sub = folder / f"idx{i}"
            sub.mkdir()
            for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
                (sub / name).write_bytes(content)
            for name in ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
                (sub / name).write_bytes(gzip.compress(struct.pack(">II", 0x0801, 5)))
            yield "fashion_mnist", {"path": str(sub)}, sub
            continue
        path = folder / f"f{i}.{kind}"
        path.write_bytes(bytes(content))
        args: dict = {"file": str(path)}
        if kind == "csv" and rng.random() < 0.5:
            args["label"] = rng.choice(["a", "zz"])
        yield kind, args, path


def _zip_bomb(zipfile, rng: random.Random) -> bytes:
    return _zip_of_zeros(rng.choice((10, 1 << 20, 1 << 28)))


@functools.cache
def _zip_of_zeros(size: int) -> bytes:
    """An .npz whose one array of zeros (what its header says) deflates ~1000 times."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        header = ("{'descr': '<f4', 'fortran_order': False, 'shape': (" + str(size // 256)
                  + ", 64), }")
        header += " " * (-(len(header) + 11) % 64) + "\n"
        import struct

        z.writestr("x.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header))
                   + header.encode() + bytes(min(size, 1 << 28)))
    return buf.getvalue()


# ---------------------------------------------------------------- run directories


def run_inputs(rng: random.Random, n: int, folder: Path) -> Iterator[Path]:
    """Copies of one trained run with one file mutated, truncated, swapped or emptied."""
    import aespec

    spec = folder / "tiny.ae"
    spec.write_text("data digits\ninput vector(64)\nencoder {\n    dense(8) relu\n}\n"
                    "bottleneck {\n    dense(2)\n}\ndecoder mirror\ntrain {\n    epochs 1\n}\n")
    base = folder / "base"
    aespec.train(spec, out=base, quiet=True, report=False)
    names = ["run.json", "checkpoint.pt", "best.pt", "tiny.ae", "resolved.json"]
    for i in range(n):
        run = folder / f"run{i}"
        shutil.copytree(base, run)
        victim = run / rng.choice(names)
        data = victim.read_bytes()
        choice = rng.randrange(5)
        if choice == 0:
            victim.write_bytes(data[:rng.randrange(len(data) + 1)])
        elif choice == 1:
            victim.write_bytes(b"")
        elif choice == 2 and victim.suffix == ".pt":
            victim.write_bytes((run / ("best.pt" if victim.name == "checkpoint.pt"
                                       else "checkpoint.pt")).read_bytes())
        elif choice == 3 and victim.name == "run.json":
            info = json.loads(data)
            key = rng.choice(sorted(info))
            info[key] = rng.choice([None, 7, "x", [], {}])
            victim.write_text(json.dumps(info))
        else:
            i = rng.randrange(len(data)) if data else 0
            victim.write_bytes(data[:i] + bytes([rng.randrange(256)]) + data[i + 1:])
        yield run


# ---------------------------------------------------------------- the campaign


def campaign(inputs: int, seed: int = 0) -> Campaign:
    from aespec.data import load_data
    from aespec.graph.checking import check_source
    from aespec.train import load_run

    rng, c = random.Random(seed), Campaign()
    share = {door: max(1, int(inputs * part)) for door, part in SHARE.items()}
    for text in spec_inputs(rng, share["spec"]):
        c.feed("spec", text, lambda t=text: check_source(t, "fuzz.ae"))
    for text in grammar_inputs(share["grammar"]):
        c.feed("grammar", text, lambda t=text: check_source(t, "fuzz.ae"))
    for base, sets in set_inputs(rng, share["set"]):
        c.feed("set", " ".join(sets), lambda b=base, s=sets: check_source(b, "fuzz.ae", s))
    with tempfile.TemporaryDirectory() as tmp:
        for source, args, path in data_inputs(rng, share["data"], Path(tmp)):
            c.feed("data", f"{source}({args})", lambda s=source, a=args: load_data(
                s, a, (64,) if s != "fashion_mnist" else (1, 28, 28)))
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        for run in run_inputs(rng, share["run"], Path(tmp)):
            c.feed("run", str(run), lambda r=run: load_run(r, device="cpu"))
            shutil.rmtree(run)
    return c


def render(c: Campaign, seconds: float, seed: int) -> str:
    total = sum(c.counts.values())
    lines = ["# Fuzz campaign", "",
             f"Generated by `make fuzz` (`bench/fuzz.py`, seed {seed}); do not edit by hand.",
             "", f"{total:,} inputs in {seconds:.0f} s; {len(c.findings)} findings (an "
             f"exception that is not an AespecError, or an input slower than {HANG_SECONDS:g}"
             " s). Slowest input: "
             f"{c.slowest[0]:.2f} s ({c.slowest[1]}).", "",
             "| door | inputs | findings |", "|---|---:|---:|"]
    by_door = collections.Counter(f["door"] for f in c.findings)
    lines += [f"| {door} | {n:,} | {by_door[door]} |" for door, n in c.counts.items()]
    if c.replayed:
        lines += ["", f"{len(c.replayed)} input(s) went past {HANG_SECONDS:g} s once and not "
                  "when run again alone (a garbage collection of the campaign's own heap "
                  "landed in them): " + "; ".join(c.replayed[:5])]
    if c.findings:
        lines += ["", "## Findings", ""]
        grouped = collections.defaultdict(list)
        for f in c.findings:
            grouped[(f["door"], f["what"])].append(f["input"])
        for (door, what), examples in sorted(grouped.items()):
            lines.append(f"- {door}, {len(examples)}x: {what}; e.g. `{examples[0][:120]!r}`")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "FUZZ.md")
    parser.add_argument("--memory-gib", type=int, default=12,
                        help="address-space limit, so a memory blow-up is a finding")
    args = parser.parse_args(argv)
    import torch  # noqa: F401 - imported before the limit: its start-up maps much memory

    limit = args.memory_gib << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    start = time.perf_counter()
    c = campaign(args.inputs, args.seed)
    args.out.write_text(render(c, time.perf_counter() - start, args.seed), encoding="utf-8")
    print(args.out.read_text(encoding="utf-8"))
    return 1 if c.findings else 0


if __name__ == "__main__":
    sys.exit(main())
