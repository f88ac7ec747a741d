"""A run folder's files read as input from anyone: bounded, regular files inside it only.

    >>> check_run_folder(Path("runs/tiny"))           # E620 for a run.json that is a FIFO
    >>> figures, notes = read_figures(Path("runs/tiny"))
    >>> records, notes = read_metrics(Path("runs/tiny/metrics.jsonl"))

A run folder may be handed in by someone else, so nothing in it is trusted: a file that is
a link (to /etc/passwd, or out of the folder through a linked folder), a FIFO (an open
that never returns), a directory, a device, or a file of gigabytes is never read as one of
the run's files.  Every file is opened without following a link and without blocking,
checked by `fstat` to be a regular file, and read up to its limit only.  A figure that
fails is left out of the page with a note (E621); run.json or the spec is an error (E620);
metrics.jsonl is read up to its limits, with a note when it was cut.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from aespec.errors import AespecError, Diagnostic

MIB = 2**20
MAX_FIGURE = 32 * MIB  # one report figure; aespec's are a few hundred KiB
MAX_FIGURES = 64  # figures on a page; a report block draws at most seven
MAX_FIGURE_BYTES = 128 * MIB  # all of a page's figures together
MAX_JSON = 16 * MIB  # run.json, report.json: a few KiB when aespec wrote them
MAX_SPEC = 4 * 64 * 1024 + 4  # bytes: a spec is at most 64 Ki characters (E106) of UTF-8
MAX_METRICS = 64 * MIB  # metrics.jsonl read; a record is about 300 bytes
MAX_EPOCHS = 100_000  # records read from metrics.jsonl
MAX_LISTED = 10_000  # entries of report/ looked at
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# never follow a link, never wait for a writer (a FIFO), never leak the descriptor
_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
          | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))


class NotReadable(Exception):
    """Why a file of a run folder is not read (a sentence: `it is a link`)."""


def kind_of(mode: int) -> str:
    """What a file of `mode` is, in words: `a FIFO`, `a directory`, `a device`..."""
    for test, said in ((stat.S_ISLNK, "a link"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return said
    return "not a regular file"


def _check_inside(root: Path, path: Path) -> None:
    """NotReadable when `path` is a link, or lies outside `root` once links are resolved
    (a linked `report/` folder)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:  # the caller's to handle
        raise
    except NotADirectoryError:  # a folder that is a file holds no files: missing, too
        raise FileNotFoundError(str(path)) from None
    except (OSError, ValueError) as exc:  # a name too long, or not encodable (a surrogate)
        raise NotReadable(f"its name cannot be a file's ({type(exc).__name__})") from None
    if stat.S_ISLNK(mode):
        raise NotReadable("it is a link (a run's files are files in its folder)")
    try:
        inside = path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError) as exc:  # a loop of links above it
        raise NotReadable(str(exc)) from None
    if not inside:
        raise NotReadable("it lies outside the run folder (through a linked folder)")


def read_head(root: Path, name: str, limit: int) -> tuple[bytes, bool]:
    """The first `limit` bytes of the regular file `root/name`, and whether that is all of
    it; FileNotFoundError when there is none, NotReadable when it is not one to read."""
    if "\0" in name:  # no file system names a file so; os.lstat would raise ValueError
        raise NotReadable("its name holds a NUL character")
    path = root / name
    _check_inside(root, path)
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise NotReadable(exc.strerror or str(exc)) from None
    try:
        mode = os.fstat(fd).st_mode  # of what was opened, not of what was checked
        if not stat.S_ISREG(mode):
            raise NotReadable(f"it is {kind_of(mode)}, not a file")
        data = _read(fd, limit + 1)
    except OSError as exc:
        raise NotReadable(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    return data[:limit], len(data) <= limit


def _read(fd: int, size: int) -> bytes:
    """Up to `size` bytes from `fd`: less only at the end of the file."""
    parts, left = [], size
    while left > 0:
        part = os.read(fd, min(left, MIB))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def read_whole(root: Path, name: str, limit: int) -> bytes:
    """All of `root/name` (see `read_head`); NotReadable when it is larger than `limit`."""
    data, whole = read_head(root, name, limit)
    if not whole:
        raise NotReadable(f"it is larger than {_size(limit)}")
    return data


def _size(n: int) -> str:
    return f"{n / MIB:.0f} MiB" if n >= MIB else f"{n / 1024:.0f} KiB"


def _json(data: bytes) -> Any:
    """The JSON value of `data`; ValueError for text that is not JSON (too deep too)."""
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise ValueError("nested too deeply") from None


# ---------------------------------------------------------------- run.json and the spec


def check_run_folder(root: Path) -> None:
    """E620 when run.json, or the spec it names, is in the folder but is not a file that
    can be read: a link, a FIFO, a directory, a device, or far larger than aespec writes.
    (A missing or malformed run.json is E603, found when it is read.)"""
    info = _checked(root, "run.json", MAX_JSON)
    try:
        name = _json(info).get("spec_file") if info is not None else None
    except (ValueError, AttributeError):
        return  # not a run's record: reading it says so (E603)
    if isinstance(name, str) and name and Path(name).name == name and name not in (".", ".."):
        _checked(root, name, MAX_SPEC)


def _checked(root: Path, name: str, limit: int) -> bytes | None:
    try:
        return read_whole(root, name, limit)
    except FileNotFoundError:
        return None
    except NotReadable as why:
        raise AespecError.of("E620", f"{root / name} cannot be read as the run's {name}: "
                             f"{why}", file=str(root / name),
                             hint="a run folder holds the files aespec wrote; was it changed "
                             "or handed in by someone else?") from None


# ---------------------------------------------------------------- figures


def left_out(root: Path, name: str, why: str) -> Diagnostic:
    """The note (E621) for a file the page leaves out."""
    return Diagnostic("E621", f"{name} is left out of the page: {why}", None,
                      "only the PNG files aespec drew are shown", str(root / name))


def figure_names(root: Path) -> tuple[list[str], list[Diagnostic]]:
    """`report/NAME.png` for each such entry of the run's report folder (whatever it is),
    in the report block's order (report.json), else by name."""
    folder = root / "report"
    try:
        _check_inside(root, folder)
        with os.scandir(folder) as entries:
            found = sorted(f"report/{e.name}" for _, e in zip(range(MAX_LISTED), entries,
                                                               strict=False)
                           if e.name.endswith(".png"))
    except FileNotFoundError:
        return [], []
    except (NotReadable, OSError) as exc:
        return [], [left_out(root, "report/", str(exc) or "it cannot be listed")]
    named = _named_in_report_json(root)
    return [n for n in named if n in found] + [n for n in found if n not in named], []


def read_report(root: Path) -> tuple[dict[str, Any], list[Diagnostic]]:
    """report.json's items (name -> numbers), {} when there is none; a note (E621) when it
    is there but cannot be read as one."""
    try:
        summary = _json(read_whole(root, "report.json", MAX_JSON))
    except FileNotFoundError:
        return {}, []
    except (OSError, NotReadable, ValueError) as why:
        return {}, [left_out(root, "report.json", str(why) or "it cannot be read")]
    if not isinstance(summary, dict):
        return {}, [left_out(root, "report.json", "it is not a JSON object")]
    return summary, []


def _named_in_report_json(root: Path) -> list[str]:
    """The figures report.json lists, in its order; none when it cannot be read."""
    try:
        summary = _json(read_whole(root, "report.json", MAX_JSON))
    except (OSError, NotReadable, ValueError):
        return []
    if not isinstance(summary, dict):
        return []
    files = [v.get("file") for v in summary.values() if isinstance(v, dict)]
    return list(dict.fromkeys(f for f in files if isinstance(f, str)))


def read_figures(root: Path) -> tuple[list[tuple[str, bytes]], list[Diagnostic]]:
    """The report block's PNGs as (report/NAME.png, bytes), and a note (E621) for each
    one left out: a link, not a regular file, not a PNG, too large, or one too many."""
    names, notes = figure_names(root)
    figures: list[tuple[str, bytes]] = []
    total = 0
    for name in names:
        why = _figure(root, name, figures, MAX_FIGURE_BYTES - total)
        if why:
            notes.append(left_out(root, name, why))
        else:
            total += len(figures[-1][1])
    return figures, notes


def _figure(root: Path, name: str, into: list[tuple[str, bytes]], room: int) -> str | None:
    """Append the figure `name` to `into` (`room`: the bytes the page has left for
    figures), or say why not."""
    if len(into) >= MAX_FIGURES:
        return f"a page shows at most {MAX_FIGURES} figures"
    try:
        data = read_whole(root, name, MAX_FIGURE)
    except (NotReadable, OSError) as why:
        return str(why) or "it cannot be read"
    if not data.startswith(PNG_MAGIC):
        return "it is not a PNG image"
    if len(data) > room:
        return f"a page shows at most {_size(MAX_FIGURE_BYTES)} of figures"
    into.append((name, data))
    return None


# ---------------------------------------------------------------- metrics.jsonl


def read_metrics(path: Path) -> tuple[list[dict[str, Any]], list[Diagnostic]]:
    """metrics.jsonl's records, read up to MAX_METRICS bytes and MAX_EPOCHS lines (with a
    note, E621, when it was cut); a torn last line (a run killed while writing) is left
    out.  E610 for a file that is not a regular one, or a line that is not an epoch's record."""
    root, name = path.parent, path.name
    try:
        data, whole = read_head(root, name, MAX_METRICS)
    except FileNotFoundError:
        return [], []
    except NotReadable as why:
        raise AespecError.of("E610", f"cannot read {path}: {why}", file=str(path)) from None
    lines = data.split(b"\n", MAX_EPOCHS)  # the last piece: all past MAX_EPOCHS lines
    cut = not whole
    if len(lines) > MAX_EPOCHS:
        cut = cut or bool(lines[-1].strip())
        lines = lines[:MAX_EPOCHS]
    elif not whole:
        lines = lines[:-1]  # the read stopped inside this line
    records = _records(lines, path, torn_last=not cut)
    if not cut:
        return records, []
    return records, [Diagnostic(
        "E621", f"{name} is cut: the page shows its first {len(records):,} epochs (a page "
        f"reads at most {_size(MAX_METRICS)} and {MAX_EPOCHS:,} lines of it)", None,
        "aespec writes one line of a few hundred bytes an epoch", str(path))]


def _records(lines: list[bytes], path: Path, torn_last: bool) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = _json(line)
        except ValueError:
            if torn_last and number == len(lines):
                continue  # a run killed while writing its last line
            record = None
        if not isinstance(record, dict) or not _whole_number(record.get("epoch")):
            raise AespecError.of("E610", f"{path}:{number}: not an epoch's record",
                                 file=str(path),
                                 hint="the file was changed or written by something else")
        records.append(record)
    return records


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
