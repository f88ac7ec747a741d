"""A fuzz campaign: hostile inputs at every door of aespec.

    make fuzz                                    # 100,000 inputs; writes bench/FUZZ.md
    .venv/bin/python bench/fuzz.py --inputs 800  # the short run tests/test_fuzz.py makes

Doors, each fed seeded random inputs (the same seed gives the same campaign):

    spec       check_source over byte and token mutations of every spec in specs/ and
               every conformance case (flips, insertions, deletions, duplicated and swapped
               tokens, splices of two specs, truncations)
    grammar    check_source over strings drawn from the grammar itself (hypothesis'
               from_lark), with our own words for names
    set        check_source of a valid spec with random `--set KEY=VALUE` overrides
    data, run  data files and trained run directories that lie (bench/fuzz_doors/files.py)
    markdown, lsp, report, images, emit
               Markdown pages, language-server messages, run folders for the report and
               compare pages, image folders, emitted code (bench/fuzz_doors/)

A finding is any exception that is not an AespecError, a diagnostic without a code, a
broken promise a door checks (an injected tag on a page, emitted code that does not
compile, a file outside a folder read), or an input that takes longer than 5 s of CPU
time, or waits 15 s of wall-clock time while spending almost none (a FIFO opened, a read
that never ends). A kind of input that hung three times is not fed again, so one kind
cannot eat the campaign. The campaign runs under an address-space limit, so a blow-up of
memory is a MemoryError finding rather than the machine's end.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import random
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fuzz_doors import Finding, Hang, emit, files, images, lsp, markdown, report

ROOT = Path(__file__).resolve().parents[1]
SEEDS = sorted((ROOT / "specs").glob("*.ae")) + sorted(
    (ROOT / "tests" / "conformance").glob("*/*.ae"))
HANG_SECONDS = 5.0
WALL_SECONDS = 3 * HANG_SECONDS  # a call that waits spends no CPU time: the wall clock's limit
HANGS_PER_KIND = 3
CODE = re.compile(r"^[EW]\d{3}$")
TEMPORARY = re.compile(re.escape(tempfile.gettempdir()) + r"/tmp\w+(/[^/'\"\s]+)?")
# wall-clock cost of an input, measured on 2 cores: spec, grammar and markdown ~3 ms (a page
# of thousands of blocks, one in 60, up to a second), set and emit ~13, lsp ~27, run ~35,
# images ~60 (making the folder), report ~100 (a copied run folder, dot, and every fifth a
# model loaded): 100,000 inputs come to about 17 minutes, and each door has thousands
SHARE = {"spec": 0.40, "grammar": 0.10, "set": 0.14, "data": 0.05, "run": 0.015,
         "markdown": 0.10, "lsp": 0.08, "report": 0.02, "images": 0.045, "emit": 0.05}
DOORS = {"markdown": markdown, "lsp": lsp, "report": report, "images": images, "emit": emit}


@dataclass
class Campaign:
    counts: collections.Counter = field(default_factory=collections.Counter)
    findings: list[dict] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")
    replayed: list[str] = field(default_factory=list)  # slow once, fast alone
    hangs: collections.Counter = field(default_factory=collections.Counter)  # (door, kind)
    skipped: collections.Counter = field(default_factory=collections.Counter)
    seconds: collections.Counter = field(default_factory=collections.Counter)  # per door

    def feed(self, door: str, shown: str, fn: Callable[[], object], kind: str = "") -> None:
        """Run one input; record what is not an AespecError (or a clean diagnostic list)."""
        from aespec.errors import AespecError

        if self.hangs[(door, kind)] >= HANGS_PER_KIND:
            self.skipped[(door, kind)] += 1
            return
        self.counts[door] += 1
        if sum(self.counts.values()) % 5000 == 0:
            print(f"{sum(self.counts.values()):,} inputs, {len(self.findings)} findings",
                  flush=True)
        start, cpu, rang = time.perf_counter(), time.process_time(), [""]
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
            if rang[0] == "wall" and time.process_time() - cpu < 1.0:
                self._found(door, shown, f"waited longer than {WALL_SECONDS:g} s doing "
                            "nothing (blocked)", kind)
            else:
                self._slow(door, shown, fn, kind)
        except Finding as broken:
            self._found(door, shown, str(broken))
        except Exception as exc:  # noqa: BLE001 - every other exception is a finding
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self._found(door, shown, f"{type(exc).__name__}: {str(exc)[:200]} "
                        f"({Path(where.filename).name}:{where.lineno})")
        seconds = time.perf_counter() - start
        self.seconds[door] += seconds
        if seconds > self.slowest[0]:
            self.slowest = (seconds, f"{door}: {shown[:80]!r}")

    def _slow(self, door: str, shown: str, fn: Callable[[], object], kind: str) -> None:
        """A slow input is run again, alone after a full collection: a hang only if it is
        slow again (a collection of the campaign's own garbage can land in any input)."""
        import gc

        from aespec.errors import AespecError

        gc.collect()
        rang = [""]
        start = time.process_time()
        try:
            with _deadline(HANG_SECONDS, rang):
                fn()
        except AespecError:
            pass
        except Hang:
            rang[0] = rang[0] or "cpu"
        except Exception:  # noqa: BLE001 - the first run's verdict stands
            pass
        if rang[0]:
            self._found(door, shown, f"took longer than {HANG_SECONDS:g} s, twice", kind)
        else:
            self.replayed.append(f"{door}: {time.process_time() - start:.2f} s on replay "
                                 f"({shown[:60]!r})")

    def _found(self, door: str, shown: str, what: str, hung: str | None = None) -> None:
        """Record a finding; `hung`: the kind of input that hung, counted to its limit.
        The input's own temporary folder is left out of `what`, so that findings group."""
        if hung is not None:
            self.hangs[(door, hung)] += 1
        what = TEMPORARY.sub("<tmp>", what)
        self.findings.append({"door": door, "what": what, "input": shown[:300]})


@contextlib.contextmanager
def _deadline(seconds: float, rang: list[str]) -> Iterator[None]:
    """Hang after `seconds` of this process's CPU time (ITIMER_PROF): a shared, loaded
    machine slows the wall clock, not the work an input costs. A call that waits (a FIFO
    opened for reading) spends none, so the wall clock rings too, at WALL_SECONDS."""
    def ring(signum, frame):
        rang[0] = "wall" if signum == signal.SIGALRM else "cpu"
        raise Hang

    old = signal.signal(signal.SIGPROF, ring), signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, WALL_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGPROF, old[0])
        signal.signal(signal.SIGALRM, old[1])


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


# ---------------------------------------------------------------- the campaign


def campaign(inputs: int, seed: int = 0, doors: set[str] | None = None) -> Campaign:
    """`inputs` split among the doors by SHARE (only `doors`, when named)."""
    from aespec.data import load_data
    from aespec.graph.frontend import check_source
    from aespec.train import load_run

    rng, c = random.Random(seed), Campaign()
    share = {door: max(1, int(inputs * part)) if doors is None or door in doors else 0
             for door, part in SHARE.items()}
    for text in spec_inputs(rng, share["spec"]):
        c.feed("spec", text, lambda t=text: check_source(t, "fuzz.ae"))
    for text in grammar_inputs(share["grammar"]) if share["grammar"] else ():
        c.feed("grammar", text, lambda t=text: check_source(t, "fuzz.ae"))
    for base, sets in set_inputs(rng, share["set"]):
        c.feed("set", " ".join(sets), lambda b=base, s=sets: check_source(b, "fuzz.ae", s))
    with tempfile.TemporaryDirectory() as tmp:
        for source, args, path in files.data_inputs(rng, share["data"], Path(tmp)):
            c.feed("data", f"{source}({args})", lambda s=source, a=args: load_data(
                s, a, (64,) if s != "fashion_mnist" else (1, 28, 28)))
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        for run in files.run_inputs(rng, share["run"], Path(tmp)) if share["run"] else ():
            c.feed("run", str(run), lambda r=run: load_run(r, device="cpu"))
            shutil.rmtree(run)
    for door, module in DOORS.items():  # each its own random stream: adding one moves none
        with tempfile.TemporaryDirectory() as tmp:
            inputs_of = module.inputs(random.Random(f"{seed}:{door}"), share[door], Path(tmp))
            for kind, shown, fn in inputs_of if share[door] else ():
                c.feed(door, shown, fn, kind)
    return c


def render(c: Campaign, seconds: float, seed: int) -> str:
    total = sum(c.counts.values())
    lines = ["# Fuzz campaign", "",
             f"Generated by `make fuzz` (`bench/fuzz.py`, seed {seed}); do not edit by hand.",
             "", f"{total:,} inputs in {seconds:.0f} s; {len(c.findings)} findings (an "
             f"exception that is not an AespecError, a promise a door checks broken, or an input "
             f"slower than {HANG_SECONDS:g} s). Slowest input: "
             f"{c.slowest[0]:.2f} s ({c.slowest[1]}).", "",
             "| door | inputs | findings | seconds |", "|---|---:|---:|---:|"]
    by_door = collections.Counter(f["door"] for f in c.findings)
    lines += [f"| {door} | {n:,} | {by_door[door]} | {c.seconds[door]:.0f} |"
              for door, n in c.counts.items()]
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
    if c.skipped:
        lines += ["", "Kinds of input not fed again after hanging "
                  f"{HANGS_PER_KIND} times: " + "; ".join(
                      f"{door} {kind} ({n:,} left out)" for (door, kind), n in c.skipped.items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--doors", help="only these doors, comma-separated (their shares of "
                        "--inputs): " + ", ".join(SHARE))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "FUZZ.md")
    parser.add_argument("--memory-gib", type=int, default=12,
                        help="address-space limit, so a memory blow-up is a finding")
    args = parser.parse_args(argv)
    import torch  # noqa: F401 - imported before the limit: its start-up maps much memory

    # a payload's control characters have no glyph in matplotlib's font: said once a figure
    warnings.filterwarnings("ignore", message="Glyph .* missing from font")
    limit = args.memory_gib << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    start = time.perf_counter()
    doors = set(args.doors.split(",")) if args.doors else None
    if doors is not None and not doors <= set(SHARE):
        parser.error(f"unknown doors: {', '.join(sorted(doors - set(SHARE)))}")
    c = campaign(args.inputs, args.seed, doors)
    args.out.write_text(render(c, time.perf_counter() - start, args.seed), encoding="utf-8")
    print(args.out.read_text(encoding="utf-8"))
    return 1 if c.findings else 0


if __name__ == "__main__":
    sys.exit(main())
