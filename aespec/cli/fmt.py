"""`aespec fmt FILE... [--check]`: rewrite specs in the canonical layout, comments kept.

The layout's rules are in `aespec.parse.fmt`. A file with a syntax error is reported with
its diagnostic and left as it is; `--check` writes nothing and exits 1 naming the files
that would change; `-` reads a spec on stdin (at most MAX_SOURCE characters: never all of
/dev/zero) and writes it formatted on stdout. A Markdown page keeps every character outside
its ```ae blocks.

The files are the user's: a file is rewritten only when it is a regular file its owner may
write (E002, E003), through a temporary file beside it renamed over it, so that an
interrupted or failed write leaves the old text whole; the new file keeps the old one's
mode and owner, and a symbolic link stays a link (its target is rewritten).
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from pathlib import Path

import typer

from aespec.cli.app import app
from aespec.cli.common import err, out, print_diagnostics
from aespec.errors import AespecError
from aespec.parse import MAX_SOURCE, read_spec
from aespec.parse.fmt import format_markdown, format_source
from aespec.parse.markdown import is_markdown, read_markdown

BOM = b"\xef\xbb\xbf"  # read_spec drops a byte-order mark; the rewritten file keeps it
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


def _regular(path: Path) -> os.stat_result:
    """The file's status (through a link); E002 for anything but a regular file, before it
    is opened: opening a FIFO waits for a writer, and a device may never end."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise AespecError.of("E001", f"cannot read {path}: {exc.strerror or exc}",
                             file=str(path)) from None
    kind = next((name for test, name in _KINDS if test(st.st_mode)), None)
    if kind is not None or not stat.S_ISREG(st.st_mode):
        raise AespecError.of("E002", f"{path} is {kind or 'not a regular file'}, not a spec "
                             "file", file=str(path),
                             hint="fmt rewrites spec files; pipe other input through "
                                  "`aespec fmt -`")
    return st


def _write(path: Path, text: str, st: os.stat_result) -> None:
    """Replace the file's text through a temporary file beside its target, renamed over it:
    never half written; the mode and owner kept, a link kept a link."""
    if not st.st_mode & stat.S_IWUSR:  # the mode, not os.access: root may write anything
        raise AespecError.of("E003", f"{path} is read-only; it was left as it is",
                             file=str(path), hint="make it writable (chmod u+w) to format it")
    target = Path(os.path.realpath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".fmt", dir=target.parent)
        with os.fdopen(fd, "wb") as fh:
            _keep_owner_and_mode(fh.fileno(), st)
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise AespecError.of("E606", f"cannot write {path}: {exc.strerror or exc}; it was "
                             "left as it was", file=str(path)) from None
    finally:  # an error or an interrupt before the rename: the old file is untouched
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _keep_owner_and_mode(fd: int, st: os.stat_result) -> None:
    """The old file's owner (where this user may give it: root, or a group of its own) and
    then its mode (chown may clear the set-id bits)."""
    with contextlib.suppress(OSError):
        os.fchown(fd, st.st_uid, st.st_gid)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))


def _read(path: Path) -> tuple[str, bool]:
    """The file's text (a Markdown page's whole text), and whether it began with a
    byte-order mark (which the text leaves out)."""
    text = read_markdown(path) if is_markdown(path) else read_spec(path)
    with open(path, "rb") as fh:  # a regular file (checked): three bytes, no wait
        return text, fh.read(3) == BOM


def _format_file(path: Path, check: bool) -> bool:
    """Format one file (or, with `check`, say whether it would change); True when fine."""
    source = ""
    try:
        st = _regular(path)
        source, bom = _read(path)
        formatter = format_markdown if is_markdown(path) else format_source
        formatted = formatter(source, str(path))
        if formatted == source:
            return True
        if check:
            out.print(f"would reformat {path}", markup=False)
            return False
        _write(path, "\ufeff" * bom + formatted, st)
    except AespecError as error:
        print_diagnostics(error.diagnostics, source)
        return False
    out.print(f"reformatted {path}", markup=False)
    return True


def _read_stdin() -> str:
    """At most MAX_SOURCE + 1 characters of stdin (one more tells a spec too large)."""
    try:
        return sys.stdin.read(MAX_SOURCE + 1)
    except UnicodeDecodeError as exc:
        raise AespecError.of("E001", f"cannot read <stdin>: byte 0x{exc.object[exc.start]:02x} "
                             "is not UTF-8", file="<stdin>",
                             hint="save the file as UTF-8") from None


def _format_stdin(check: bool) -> bool:
    source = ""
    try:
        source = _read_stdin()
        formatted = format_source(source, "<stdin>")
    except AespecError as error:  # no line shown of a text too large (/dev/zero's NULs)
        print_diagnostics(error.diagnostics, source if len(source) <= MAX_SOURCE else None)
        return False
    if check:
        if formatted != source:
            err.print("would reformat <stdin>", markup=False)
        return formatted == source
    sys.stdout.write(formatted)
    return True


@app.command("fmt")
def fmt_command(
    files: list[Path] = typer.Argument(..., metavar="FILE...",
                                       help="Spec files (.ae) or Markdown pages (.md: their "
                                            "```ae blocks); - reads stdin, writes stdout."),
    check: bool = typer.Option(False, "--check",
                               help="Write nothing; exit 1 if a file would change."),
) -> None:
    """Rewrite specs in the canonical layout (comments kept); exit 1 on a syntax error."""
    ok = True
    for path in files:
        ok &= _format_stdin(check) if str(path) == "-" else _format_file(path, check)
    raise typer.Exit(0 if ok else 1)
