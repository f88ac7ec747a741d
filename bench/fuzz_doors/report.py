"""The report door: copies of one small real run (trained once, with a report block), one
file mutated (hostile strings, wrong types, symlinks to files outside, FIFOs, directories
where files belong, huge sparse files), through the report page builder (`read_run_page`,
`run_page`) and, every fifth input, the compare page builder (`compare_runs`,
`compare_page`) beside the untouched run.

A finding besides an exception: a page with a tag or attribute the payload injected
(`<script>`, `on...=`, an image that is not a data: URI), or a page that holds the text of
a file outside the run folder (a canary, or its base64).
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path

from fuzz_doors import HOSTILE, Finding, cycle, fifo, sparse

TOKEN = "CANARY-5f1d2c"
SPEC = ('model tiny "{doc}"\ndata digits\ninput vector(64)\nencoder {{\n    dense(8) relu\n}}\n'
        "bottleneck {{\n    dense(2)\n}}\ndecoder mirror\ntrain {{\n    epochs 1\n}}\n"
        "report {{\n    reconstructions(n=4)\n}}\n")
KINDS = ["info-string", "info-type", "info-file", "metrics", "metrics-file", "spec",
         "spec-file", "spec-name", "figures", "report-json", "folder-name", "overrides"]
STRINGS = ["name", "status", "error", "device", "python", "torch", "started", "finished",
           "data_description", "aespec", "spec_path", "spec_file"]
WRONG: list = [None, 7, -1, 1e308, True, "x", [], {}, [1, 2], {"a": {"b": []}}, "1" * 10_000]
HTMLISH = [s for s in HOSTILE if "<" in s or '"' in s or "'" in s]
NAMES = [s for s in HOSTILE if s and "/" not in s and "\x00" not in s and len(s) < 100
         and not any(0xD800 <= ord(c) <= 0xDFFF for c in s)]


class PageScan(HTMLParser):
    """What a payload would need on the page to run: a script, a handler, a fetched image."""

    def __init__(self) -> None:
        super().__init__()
        self.found: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "iframe", "object", "embed", "base", "link", "form"):
            self.found = self.found or f"<{tag}>"
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.found = self.found or f"<{tag} {name}=...>"
            if name in ("src", "href", "xlink:href") and not (value or "").startswith("data:"):
                self.found = self.found or f"<{tag} {name}={(value or '')[:20]!r}>"


def check_page(html: str, canaries: list[bytes]) -> None:
    scan = PageScan()
    scan.feed(html)
    if scan.found:
        raise Finding(f"the page holds an injected {scan.found}")
    if TOKEN in html or any(base64.b64encode(c).decode() in html for c in canaries):
        raise Finding("the page holds the content of a file outside the run folder")


class Door:
    def __init__(self, folder: Path) -> None:
        import aespec

        (folder / "tiny.ae").write_text(SPEC.format(doc="A tiny one"), encoding="utf-8")
        self.base = folder / "base"
        aespec.train(folder / "tiny.ae", out=self.base, quiet=True)
        self.outside = folder / "outside"
        self.outside.mkdir()
        png = (self.base / "report" / "reconstructions.png").read_bytes()
        info = json.loads((self.base / "run.json").read_text(encoding="utf-8"))
        files = {"canary.txt": TOKEN.encode(), "canary.png": png[:-12] + _text_chunk() + png[-12:],
                 "canary.ae": (SPEC.format(doc="x") + f"# {TOKEN}\n").encode(),
                 "canary.json": json.dumps(info | {"name": TOKEN}).encode(),
                 "canary.jsonl": json.dumps({"epoch": 1, "train": {TOKEN: 1.0}}).encode()}
        for name, data in files.items():
            (self.outside / name).write_bytes(data)
        self.canaries = list(files.values())

    def mutate(self, rng: random.Random, run: Path, kind: str) -> str:
        """Spoil one part of the run at `run`; what was done, in words."""
        info = json.loads((run / "run.json").read_text(encoding="utf-8"))
        if kind == "info-string":
            key = rng.choice(STRINGS)
            info[key] = rng.choice(HTMLISH) if rng.random() < 0.6 else rng.choice(HOSTILE)
            info["notes"] = [rng.choice(HTMLISH)]
            return _write_json(run / "run.json", info, f"run.json {key}={info[key]!r:.80}")
        if kind == "info-type":
            key = rng.choice(sorted(info))
            info[key] = rng.choice(WRONG)
            return _write_json(run / "run.json", info, f"run.json {key}={info[key]!r:.80}")
        if kind in ("info-file", "metrics-file"):
            name = "run.json" if kind == "info-file" else "metrics.jsonl"
            return self._spoil_file(rng, run / name, "canary.json" if kind == "info-file"
                                    else "canary.jsonl")
        if kind == "metrics":
            return _metrics(rng, run / "metrics.jsonl")
        if kind == "spec":
            return self._spoil_file(rng, run / info["spec_file"], "canary.ae", SPEC.format(
                doc=_ae_string(rng.choice(HTMLISH))))
        if kind == "spec-file":
            info["spec_file"] = rng.choice([str(self.outside / "canary.ae"), "../outside/canary.ae",
                                            "../../outside/canary.ae", "", ".", "report",
                                            "run.json", "metrics.jsonl", rng.choice(HOSTILE)])
            return _write_json(run / "run.json", info, f"spec_file={info['spec_file']!r:.80}")
        if kind == "spec-name":
            info["name"] = None
            (run / info["spec_file"]).write_text(SPEC.format(doc=_ae_string(rng.choice(HOSTILE))),
                                                 encoding="utf-8", errors="surrogatepass")
            return _write_json(run / "run.json", info, "hostile doc, no run name")
        if kind == "figures":
            return self._figures(rng, run / "report")
        if kind == "report-json":
            value = rng.choice([{"x": {"file": "../outside/canary.png"}}, [], "x", {"x": 5},
                                {"x": {"file": rng.choice(HTMLISH) + ".png"}}, None])
            return _write_json(run / "report.json", value, f"report.json={value!r:.80}")
        info["overrides"] = rng.choice([[rng.choice(HTMLISH)], ["width=" + rng.choice(HTMLISH)],
                                        ["train.epochs=2"] * 10_000, [7], [None], "x=1"])
        return _write_json(run / "run.json", info, f"overrides={info['overrides']!r:.80}")

    def _spoil_file(self, rng: random.Random, path: Path, canary: str, text: str = "") -> str:
        """A file made empty, binary, a directory, a FIFO, sparse, a link out, or `text`."""
        how = rng.choice(["text", "empty", "binary", "dir", "fifo", "sparse", "link", "missing",
                          "nested", "bom"])
        if path.is_file():
            path.unlink()
        if how == "dir":
            path.mkdir(exist_ok=True)
        elif how == "fifo":
            fifo(path)
        elif how == "sparse":
            sparse(path)
        elif how == "link":
            path.symlink_to(self.outside / canary)
        elif how != "missing":
            path.write_bytes({"text": text.encode("utf-8", "surrogatepass"), "empty": b"",
                              "binary": bytes(rng.randrange(256) for _ in range(300)),
                              "nested": b"[" * 100_000, "bom": b"\xef\xbb\xbf{}"}[how])
        return f"{path.name}: {how}"

    def _figures(self, rng: random.Random, report: Path) -> str:
        """report/ given a figure that is a link out, a FIFO, sparse, a directory or named
        by a payload."""
        how = rng.choice(["link", "fifo", "sparse", "dir", "name", "dir-link"])
        target = report / f"{rng.choice(NAMES) if how == 'name' else 'extra'}.png"
        if how == "link":
            target.symlink_to(self.outside / "canary.png")
        elif how == "fifo":
            fifo(target)
        elif how == "sparse":
            sparse(target)
        elif how == "dir":
            target.mkdir()
        elif how == "dir-link":
            shutil.rmtree(report)
            report.symlink_to(self.outside, target_is_directory=True)
            (self.outside / "x.png").unlink(missing_ok=True)
            os.link(self.outside / "canary.png", self.outside / "x.png")
        else:
            shutil.copy(report / "reconstructions.png", target)
        return f"report/: {how} {target.name[:60]!r}"


def _text_chunk() -> bytes:
    """A PNG tEXt chunk that carries the canary's token."""
    import zlib

    data = b"tEXt" + b"Comment\x00" + TOKEN.encode()
    return len(data[4:]).to_bytes(4, "big") + data + zlib.crc32(data).to_bytes(4, "big")


def _ae_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _write_json(path: Path, value, what: str) -> str:
    path.write_text(json.dumps(value), encoding="utf-8")
    return what


def _metrics(rng: random.Random, path: Path) -> str:
    record = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    choice = rng.randrange(4)
    if choice == 0:
        record["train"] = {rng.choice(HTMLISH): 1.0, "loss": rng.choice(WRONG)}
    elif choice == 1:
        record[rng.choice(sorted(record))] = rng.choice(WRONG)
    elif choice == 2:
        record = {"epoch": rng.choice([True, 10**30, -1, 0]), "val": rng.choice(WRONG)}
    else:
        record["train"] = {"loss": float("nan"), "mse": float("inf")}
    lines = [json.dumps(record)] * rng.choice((1, 2, 500))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f"metrics.jsonl: {json.dumps(record)[:120]}"


def inputs(rng: random.Random, n: int, folder: Path
           ) -> Iterator[tuple[str, str, Callable[[], object]]]:
    from aespec.report.compare import compare_page
    from aespec.report.page import run_page
    from aespec.train.loaded import compare_runs
    from aespec.train.pages import read_run_page

    door = Door(folder)
    for i in range(n):
        kind = cycle(KINDS, i)
        name = rng.choice(NAMES) if kind == "folder-name" else "run"
        run = folder / f"{i}-{name}"
        shutil.copytree(door.base, run, symlinks=True)
        what = "hostile folder name" if kind == "folder-name" else door.mutate(rng, run, kind)
        if "fifo" in what:  # a FIFO that blocks must not stop the kind's other inputs
            kind += " fifo"
        if i % 5 == 4:
            def fn(r=run):
                check_page(compare_page(compare_runs([door.base, r], device="cpu")),
                           door.canaries)
            yield kind, f"compare: {what}", fn
        else:
            yield kind, f"report: {what}", lambda r=run: check_page(run_page(read_run_page(r)),
                                                                    door.canaries)
        shutil.rmtree(run)
