"""Source text -> syntax tree (`aespec.parse.tree`), parsed by lark (LALR) from the grammar.

Every syntax problem becomes an `AespecError` with an E1xx diagnostic at the offending
token (`aespec.parse.syntax_errors`); nothing lark raises escapes this module.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import stat
import sys
from importlib import resources
from pathlib import Path

from lark import Lark, Tree
from lark import __version__ as lark_version
from lark.exceptions import LarkError, UnexpectedInput

from aespec.errors import AespecError, Span
from aespec.parse.syntax_errors import syntax_error
from aespec.parse.transform import ToTree
from aespec.parse.tree import (
    Arg,
    BinOp,
    BlockLine,
    BlockStmt,
    Call,
    ChainLine,
    Expr,
    Item,
    LetStmt,
    LineStmt,
    LossStmt,
    LossTerm,
    ModelStmt,
    Name,
    Neg,
    Num,
    Op,
    PhaseStmt,
    RegularizeStmt,
    RepeatLine,
    SpecTree,
    Statement,
    Str,
    TupleExpr,
)

# the syntax tree's types are importable from here too, as they were before aespec.parse.tree
__all__ = [
    "MAX_DEPTH", "Arg", "BinOp", "BlockLine", "BlockStmt", "Call", "ChainLine", "Expr", "Item",
    "LetStmt", "LineStmt", "LossStmt", "LossTerm", "ModelStmt", "Name", "Neg", "Num", "Op",
    "PhaseStmt", "RegularizeStmt", "RepeatLine", "SpecTree", "Statement", "Str", "TupleExpr",
    "MAX_SOURCE", "grammar_text", "parse_fragment", "parse_source", "read_spec",
]


class _ParenPostLex:
    """Drops newlines inside ( ) so that an argument list may span lines."""

    always_accept = ("_NL",)

    def process(self, stream):
        depth = 0
        for tok in stream:
            if tok.type == "LPAR":
                depth += 1
            elif tok.type == "RPAR":
                depth = max(depth - 1, 0)
            elif tok.type == "_NL" and depth:
                continue
            yield tok


def grammar_text() -> str:
    """The grammar: packaged copy inside the wheel, else the repository's grammar/ file."""
    packaged = resources.files("aespec").joinpath("grammar/aespec.lark")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parents[2] / "grammar" / "aespec.lark").read_text(
        encoding="utf-8")


def _cache_file(grammar: str, start: str) -> str | None:
    """Where the built LALR tables of `grammar` are kept between runs, or None.

    Building the tables is most of a cold `aespec check` (about 0.15 s); loading them takes
    a few ms.  They live in the user's cache folder, never beside the package (which may be
    read-only), under a name that changes with the grammar, lark and Python versions;
    `AESPEC_CACHE_DIR=` (empty) turns the cache off.
    """
    folder = os.environ.get("AESPEC_CACHE_DIR")
    if folder is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "aespec")
    if not folder or not os.path.isabs(folder):  # "~" not expanded: no home to cache in
        return None
    key = f"{grammar}{start}{lark_version}{sys.version_info[:2]}".encode()
    path = Path(folder) / f"grammar-{start}-{hashlib.sha256(key).hexdigest()[:16]}.lark"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return str(path)


def _build(start: str) -> Lark:
    """The LALR parser for `start`, its tables loaded from the cache when they are there.

    lark keys a cache file on all of its options, the file's own name among them, so the
    tables are written under the name they are read back from (written under a private name
    and renamed, every next run found them stale and built them again). lark writes the file
    in place; a run that reads it half written, while another builds it, fails to load it
    and quietly builds the tables itself.
    """
    grammar = grammar_text()
    options = dict(parser="lalr", start=start, propagate_positions=True,
                   postlex=_ParenPostLex(), maybe_placeholders=True)
    return Lark(grammar, cache=_cache_file(grammar, start) or False, **options)


@functools.cache
def _parser() -> Lark:
    return _build("start")


BOM = "\ufeff"
MAX_SOURCE = 64 * 1024  # characters: a spec is a page of text; past this, E106 at once
# (the parser takes about 0.1 ms a token, so this bounds a check to a few seconds)


def read_bounded(path: str | Path, limit: int) -> str:
    """A text file's first `limit` + 1 characters at most (never all of /dev/zero), so the
    caller can tell one too large, less a leading byte-order mark (Windows editors write
    one); E001 for a file that cannot be read, naming the line and column of the first
    byte that is not UTF-8; E002 for a FIFO or a socket, which never blocks the read."""
    size = 4 * (limit + 1)  # a character is at most 4 bytes of UTF-8
    try:
        fd = os.open(path, _READ_FLAGS)  # a FIFO opens at once without a writer, unread
    except OSError as err:
        raise _cannot_open(path, err) from None
    try:
        mode = os.fstat(fd).st_mode  # of what was opened: no swap between check and read
        if stat.S_ISFIFO(mode):
            raise _not_regular(path, "a FIFO (named pipe)")
        raw = _read_up_to(fd, size)  # a device (/dev/zero) is read up to the limit only
    except OSError as err:
        reason = err.strerror or str(err)
        raise AespecError.of("E001", f"cannot read {path}: {reason}", file=str(path)) from None
    finally:
        os.close(fd)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        if len(raw) < size or err.start < len(raw) - 3:
            raise _not_utf8(path, raw, err) from None
        text = raw[:err.start].decode("utf-8-sig")  # the read cut a character: too long
    return text[:limit + 1]  # line ends as written: the grammar's (\n, \r\n), as the editor's


# never wait for a writer (a FIFO) or for input (a terminal), never leak the descriptor
_READ_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
               | getattr(os, "O_BINARY", 0))


def _read_up_to(fd: int, size: int) -> bytes:
    """Up to `size` bytes from `fd`: fewer only at the end of the file."""
    parts, left = [], size
    while left > 0:
        part = os.read(fd, min(left, 1 << 20))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _cannot_open(path: str | Path, err: OSError) -> AespecError:
    """E001 with the reason; E002 for a socket (opening one fails with ENXIO)."""
    try:
        if err.errno == errno.ENXIO and stat.S_ISSOCK(os.stat(path).st_mode):
            return _not_regular(path, "a socket")
    except OSError:
        pass
    reason = err.strerror or str(err)
    return AespecError.of("E001", f"cannot read {path}: {reason}", file=str(path))


def _not_regular(path: str | Path, kind: str) -> AespecError:
    return AespecError.of("E002", f"{path} is {kind}, not a spec file", file=str(path),
                          hint="a spec is read from a file; pipe other input through `-` "
                               "(`aespec check -`), which reads at most 65,536 characters")


def _not_utf8(path: str | Path, raw: bytes, err: UnicodeDecodeError) -> AespecError:
    before = raw[:err.start]
    line = before.count(b"\n") + 1
    column = len(before[before.rfind(b"\n") + 1:].decode("utf-8-sig", "replace")) + 1
    # the place is in the message, not a span: a span points into the text the result
    # holds, and a file that cannot be read holds none
    return AespecError.of("E001", f"cannot read {path}: byte 0x{raw[err.start]:02x} at line "
                          f"{line}, column {column} is not UTF-8", None,
                          "save the file as UTF-8", str(path))


def read_spec(path: str | Path) -> str:
    """A spec file's text, at most MAX_SOURCE characters read; E001 for a file that cannot
    be read, E106 for one too large."""
    text = read_bounded(path, MAX_SOURCE)
    _check_size(text, str(path))
    return text


def _check_size(text: str, path: str | None) -> None:
    if len(text) > MAX_SOURCE:
        raise AespecError.of("E106", f"the spec is longer than {MAX_SOURCE:,} characters",
                             Span.point(1, 1), "a spec is a small text file: is this the "
                             "right file? Long lists of values belong in `let` or data", path)


def parse_source(source: str, path: str | None = None) -> SpecTree:
    """Parse `.ae` source text into a `SpecTree`; raises `AespecError` (E1xx) on bad syntax."""
    _check_size(source, path)
    if source.startswith(BOM):  # a byte-order mark: not a character of the spec
        source = source[1:]
    text = source if source.endswith("\n") else source + "\n"
    try:
        tree: Tree = _parser().parse(text)
        _check_depth(tree, path)
        statements = ToTree().transform(tree)
    except UnexpectedInput as err:
        raise syntax_error(err, source, path) from None
    except LarkError as err:  # a lark failure that is not about the input is still ours to report
        raise AespecError.of("E100", f"could not parse: {err}", None, None, path) from None
    return SpecTree(statements, source, path)


MAX_DEPTH = 200  # syntax-tree levels; the transformer and `evaluate` recurse once a level


def _check_depth(tree: Tree, path: str | None) -> None:
    """E105 for nesting deeper than MAX_DEPTH (`- - - ... 1`, a sum of thousands of terms),
    which would otherwise exhaust Python's recursion limit in the later stages."""
    stack = [(tree, 1, tree)]
    while stack:
        node, depth, top = stack.pop()
        if depth > MAX_DEPTH:  # reported at the start of the statement that holds it
            meta = top.meta
            span = None if meta.empty else Span.point(meta.line, meta.column)
            raise AespecError.of("E105", f"the expression is nested more than {MAX_DEPTH} "
                                 "levels deep", span, "split it into `let` constants", path)
        stack.extend((c, depth + 1, c if depth == 1 else top) for c in node.children
                     if isinstance(c, Tree))


@functools.cache
def _expr_parser() -> Lark:
    return _build("expr")


@functools.cache
def _chain_parser() -> Lark:
    return _build("chain")


def parse_fragment(text: str, kind: str, path: str = "--set") -> Expr | ChainLine:
    """Parse a command-line value: `kind` is `expr` (a let value) or `chain` (a train value)."""
    parser = _expr_parser() if kind == "expr" else _chain_parser()
    try:
        tree = parser.parse(text)
        _check_depth(tree, path)
        return ToTree().transform(tree)
    except UnexpectedInput as err:
        raise syntax_error(err, text, path) from None
    except LarkError as err:
        raise AespecError.of("E100", f"could not parse {text!r}: {err}", None, None, path) from None
