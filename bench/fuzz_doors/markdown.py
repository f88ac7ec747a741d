"""The markdown door: pages with ```ae fences (unclosed, nested, thousands of tiny blocks,
CRLF, BOM, binary) through the block extraction (`ae_blocks`) and the checks of a page
(`check_file` with a block selector, `check_blocks`)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

from fuzz_doors import HOSTILE, cycle

ROOT = Path(__file__).resolve().parents[2]
OPENS = ["```ae", "```aespec", "~~~ae", "````ae", "``` ae", "```ae title=x", "```AE",
         "   ```ae", "    ```ae", "\t```ae", "```", "~~~", "```python", "`````ae", "```ae```",
         "``ae", "```ae\r", "> ```ae", "- ```ae"]
CLOSES = ["```", "```", "~~~", "````", "``", "   ```", "    ```", "``` x", "", "```\r"]
SELECTORS: list = [None, 1, 2, 0, -1, 10**30, "1", " 2 ", "\u00b2", "\u0661", "0x1", "1e3",
                   "tiny", "", "9" * 5000, "\x00", "<script>", "1\n2", 1.5, True]
KINDS = ["blocks", "unclosed", "nested", "many", "crlf", "cr", "bom", "binary", "utf16",
         "long", "huge", "hostile"]


def _spec(rng: random.Random, texts: list[str]) -> str:
    """A spec from specs/, sometimes with a span cut out of it."""
    text = rng.choice(texts)
    if rng.random() < 0.3:
        i = rng.randrange(len(text))
        text = text[:i] + text[i + rng.randrange(1, 30):]
    return text


def _blocks(rng: random.Random, texts: list[str], n: int) -> str:
    parts = []
    for _ in range(n):
        parts += [rng.choice(["Some prose.", "# A heading", "", "* a list", "    code"]),
                  "```ae" if rng.random() < 0.5 else rng.choice(OPENS),
                  _spec(rng, texts).rstrip("\n"),
                  "```" if rng.random() < 0.5 else rng.choice(CLOSES)]
    return "\n".join(parts) + "\n"


def page(rng: random.Random, texts: list[str], kind: str) -> str | bytes:
    """One page's text (bytes for the kinds that are not UTF-8)."""
    if kind == "blocks":
        return _blocks(rng, texts, rng.randrange(1, 5))
    if kind == "unclosed":
        return "intro\n" + "\n".join(rng.choice(OPENS) + "\n" + _spec(rng, texts)
                                     for _ in range(rng.randrange(1, 4)))
    if kind == "nested":
        inner = _blocks(rng, texts, rng.randrange(1, 3))
        return rng.choice(["````md\n", "~~~\n", "```ae\n", "> ```ae\n"]) + inner + "````\n" + inner
    if kind == "many":
        tiny = rng.choice(["```ae\nx\n```\n", "```ae\n```\n", "```ae\ninput vector(2)\n```\n"])
        return tiny * rng.choice((100, 500, 2000, 5000))
    if kind in ("crlf", "cr"):
        return _blocks(rng, texts, rng.randrange(1, 4)).replace("\n", "\r\n" if kind == "crlf"
                                                                 else "\r")
    if kind == "bom":
        return "\ufeff" + _blocks(rng, texts, 1)
    if kind == "binary":
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 3000)))
        return b"```ae\n" + raw if rng.random() < 0.5 else raw
    if kind == "utf16":
        return _blocks(rng, texts, 1).encode(rng.choice(["utf-16", "utf-32", "latin-1"]),
                                             errors="replace")
    if kind == "long":
        return rng.choice(["`" * 100_000 + "ae\nx\n", "```ae\n" + "x" * 1_000_000 + "\n```\n",
                           "```ae\n" + "(" * 50_000 + "\n```\n"])
    if kind == "huge":
        return _blocks(rng, texts, 1) + "prose " * 200_000
    return "```ae\n" + f"model m \"{rng.choice(HOSTILE)[:200]}\"\n" + _spec(rng, texts) + "```\n"


def _call(rng: random.Random, path: Path, text: str | bytes) -> tuple[str, Callable[[], object]]:
    """One of the three ways into a page, with a block selector where one is taken."""
    from aespec.graph.frontend import check_blocks, check_file
    from aespec.parse.markdown import ae_blocks

    way = rng.randrange(3)
    if way == 0:
        return "check_blocks", lambda: check_blocks(path)
    if way == 1 or isinstance(text, bytes):
        block = rng.choice(SELECTORS)
        return f"check_file(block={block!r:.40})", lambda: check_file(path, block=block)
    return "ae_blocks", lambda: ae_blocks(text)


def inputs(rng: random.Random, n: int, folder: Path
           ) -> Iterator[tuple[str, str, Callable[[], object]]]:
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "specs").glob("*.ae"))]
    for i in range(n):
        kind = cycle(KINDS, i)
        if kind == "many" and (i // len(KINDS)) % 5:  # a page of thousands costs seconds
            kind = "blocks"
        text = page(rng, texts, kind)
        path = folder / f"p{i}{rng.choice(['.md', '.md', '.markdown', '.MD'])}"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8", errors="surrogatepass", newline="")
        how, fn = _call(rng, path, text)
        shown = text[:200] if isinstance(text, str) else repr(text[:200])
        yield kind, f"{how} of a {kind} page: {shown}", fn
        path.unlink()
