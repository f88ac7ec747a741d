"""The campaign's first file doors (bench/fuzz.py runs them with its own random stream, so
their inputs are those of earlier campaigns):

    data       load_data over .npy, .npz, .csv and IDX files with random or mutated bytes
               and headers that lie about their size
    run        load_run over a trained run directory whose run.json, spec or checkpoint
               was mutated, truncated, swapped or emptied
"""

from __future__ import annotations

import functools
import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

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
