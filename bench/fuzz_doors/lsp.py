"""The lsp door: JSON-RPC messages to the language server, in process.

Most inputs are a session: an `initialize`, a `didOpen` (mostly) and one to four messages
with random params (wrong types, missing fields, positions out of range, unknown URIs, a
FIFO's URI, huge strings), framed and read by pygls' own message loop with the server's
protocol. Every 30th input is a framed byte stream (bad headers, a huge Content-Length,
bodies that are not JSON objects) fed to `aespec.lsp.server.serve` as its stdin.

A finding: an exception that escapes a handler (pygls answers it with an internal error),
a request with no response, or `serve` ending with an exception.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import logging
import random
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from fuzz_doors import HOSTILE, Finding, Hang, fifo, sparse

ROOT = Path(__file__).resolve().parents[2]
URI = "file:///fuzz/doc.ae"
REQUESTS = ["textDocument/hover", "textDocument/completion", "textDocument/definition",
            "textDocument/formatting", "textDocument/documentSymbol", "shutdown", "nope/nope",
            "textDocument/semanticTokens/full", "initialize"]
NOTIFICATIONS = ["textDocument/didOpen", "textDocument/didChange", "textDocument/didClose",
                 "textDocument/didSave", "workspace/didChangeConfiguration", "$/cancelRequest",
                 "$/setTrace", "initialized", "exit", "nope/nope"]
NUMBERS: list = [0, 1, 2, 3, 10, 40, -1, 2**31 - 1, 2**31, 2**53, 10**30, 0.5, "1", None]
WRONG: list = [None, 7, -1, "x", [], {}, True, 1e308, "\ud800", "x" * 100_000, [[[]]]]


class Capture:
    """The server's writer: what it sends, one JSON body a write."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.sent.append(data)

    def close(self) -> None:
        pass

    def answered(self) -> set:
        """The ids of the responses sent."""
        ids = set()
        for body in self.sent:
            with contextlib.suppress(ValueError):
                msg = json.loads(body)
                if isinstance(msg, dict) and "method" not in msg:
                    ids.add(json.dumps(msg.get("id")))
        return ids


class Door:
    """The server module's one server, its writer and the errors it reports."""

    def __init__(self, folder: Path) -> None:
        from aespec.lsp import server as module

        for name in ("pygls", "asyncio", "aespec"):  # every bad message is logged
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        self.module, self.server = module, module.server
        self.errors: list[tuple[Exception, str]] = []
        self.server.report_server_error = lambda e, source: self.errors.append(
            (e, getattr(source, "__name__", str(source))))
        self.writer = Capture()
        self.server.protocol.set_writer(self.writer, include_headers=False)
        fifo(folder / "pipe.ae")
        sparse(folder / "sparse.ae")
        self.uris = [URI, URI, URI, "file:///fuzz/other.ae", (folder / "pipe.ae").as_uri(),
                     (folder / "sparse.ae").as_uri(), folder.as_uri(), "untitled:Untitled-1",
                     "", "file:///%ZZ%00", "http://example.com/x.ae", "file://" + "a" * 5000,
                     "file:///dev/null", URI.upper()]
        self.texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "specs").glob("*.ae"))]
        self._run([_message(0, "initialize", {"processId": None, "capabilities": {}}),
                   _message(None, "initialized", {})])
        gc.unfreeze()  # the server freezes its heap once; the campaign's must stay collectable

    def _run(self, messages: list[dict]) -> None:
        """Messages through pygls' own loop, as a client's framed stream."""
        from pygls.io_ import run

        stream = b"".join(_frame(json.dumps(m).encode("utf-8", "surrogatepass"))
                          for m in messages)
        proto = self.server.protocol
        proto._shutdown = False  # a session's `shutdown` must not silence the next one
        run(threading.Event(), io.BufferedReader(io.BytesIO(stream)), proto,
            error_handler=lambda e, source: self.errors.append((e, "loop")))

    def session(self, messages: list[dict]) -> None:
        """One session; a Finding for a handler's exception or a request left unanswered."""
        self.errors.clear()
        self.writer.sent.clear()
        self.server.documents.clear()
        try:
            self._run(messages)
        except SystemExit:
            pass  # an `exit` notification: the server ends, as it should
        finally:
            gc.unfreeze()
        if any(isinstance(e, Hang) or str(e).endswith("Hang") for e, _ in self.errors):
            return  # the campaign's own alarm, caught by pygls: the campaign sees it
        handler = [(e, s) for e, s in self.errors if s.startswith("Feature")
                   and type(e).__name__ != "JsonRpcMethodNotFound"]
        if handler:
            raise Finding(f"a handler raised {_where(handler[0][0])}")
        self._answered(messages)

    def _answered(self, messages: list[dict]) -> None:
        answered = self.writer.answered()
        for m in messages:
            if m.get("method") in ("shutdown", "exit"):
                return  # nothing need be answered after these
            if "id" in m and json.dumps(m["id"]) not in answered:
                why = " (its params do not fit the protocol's types)" if any(
                    s == "loop" for _, s in self.errors) else ""
                raise Finding(f"no response to {str(m.get('method'))[:40]}{why}")

    def stream(self, data: bytes) -> None:
        """A byte stream as `aespec lsp`'s stdin; a Finding if `serve` does not end cleanly."""
        self.errors.clear()
        stdin, stdout = sys.stdin, sys.stdout
        sys.stdin = io.TextIOWrapper(io.BufferedReader(io.BytesIO(data)))
        sys.stdout = io.TextIOWrapper(io.BytesIO())
        try:
            self.module.serve()
        finally:
            sys.stdin, sys.stdout = stdin, stdout
            self.server._thread_pool = None  # shut down with the loop; the next gets a new one
            self.server.protocol.set_writer(self.writer, include_headers=False)
            gc.unfreeze()
        handler = [e for e, s in self.errors if s.startswith("Feature")
                   and type(e).__name__ != "JsonRpcMethodNotFound"]
        if handler and not any(isinstance(e, Hang) or str(e).endswith("Hang") for e in handler):
            raise Finding(f"a handler raised {_where(handler[0])}")


def _where(error: Exception) -> str:
    """`KeyError (hover.py:40, workspace.py:280)`: the exception's type (its message names
    the input: it is in the example) and the last frames, aespec's and the last."""
    frames = [f for f in (getattr(error, "data", None) or {}).get("traceback") or []
              if f.count('"') >= 2]
    mine = [f for f in frames if "/aespec/" in f]
    where = [f.split('"')[1].rsplit("/", 1)[-1] + ":" + f.split("line ")[-1].split(",")[0]
             for f in ([mine[-1]] if mine else []) + frames[-1:]]
    return f"{str(error).split(':')[0][:60]} ({', '.join(dict.fromkeys(where))})"


def _frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _message(msg_id, method: str, params) -> dict:
    m = {"jsonrpc": "2.0", "method": method, "params": params}
    if msg_id is not None:
        m["id"] = msg_id
    return m


def _position(rng: random.Random) -> dict:
    if rng.random() < 0.7:
        return {"line": rng.randrange(0, 40), "character": rng.randrange(0, 60)}
    return {"line": rng.choice(NUMBERS), "character": rng.choice(NUMBERS)}


def _text(rng: random.Random, door: Door) -> str:
    if rng.random() < 0.005:  # one line of 12 MB: pygls converts positions a char at a time
        return "x" * 12_000_000
    text = rng.choice(door.texts)
    choice = rng.randrange(6)
    if choice == 0:
        return text.replace("\n", rng.choice(["\r\n", "\r", "\u2028", "\n\n"]))
    if choice == 1:
        i = rng.randrange(len(text) + 1)
        return text[:i] + rng.choice(HOSTILE) + text[i:]
    if choice == 2:
        return rng.choice(["", "x" * 2_000_000, "\t" * 10_000, "é\n" * 20_000, "\ud800"])
    return text


def _params(rng: random.Random, door: Door, method: str) -> dict:
    doc = {"uri": rng.choice(door.uris)}
    if method.endswith("didOpen"):
        return {"textDocument": {**doc, "languageId": "aespec", "version": rng.choice(NUMBERS),
                                 "text": _text(rng, door)}}
    if method.endswith("didChange"):
        change: dict = {"text": _text(rng, door)}
        if rng.random() < 0.5:
            change["range"] = {"start": _position(rng), "end": _position(rng)}
        return {"textDocument": {**doc, "version": rng.choice(NUMBERS)},
                "contentChanges": [change] * rng.choice((1, 1, 2, 0))}
    if method.startswith("textDocument/") and method[13:] in ("hover", "completion",
                                                              "definition"):
        params = {"textDocument": doc, "position": _position(rng)}
        if method.endswith("completion") and rng.random() < 0.5:
            params["context"] = {"triggerKind": rng.choice([1, 2, 3, 9]),
                                 "triggerCharacter": rng.choice(["(", ",", " ", "", "xx"])}
        return params
    if method.endswith("formatting"):
        return {"textDocument": doc, "options": {"tabSize": rng.choice([4, 0, -1]),
                                                 "insertSpaces": True}}
    if method == "initialize":
        return {"processId": None, "rootUri": rng.choice([None, *door.uris]), "capabilities": {
            "general": {"positionEncodings": [rng.choice(["utf-8", "utf-16", "utf-32", "x"])]}}}
    if method == "$/cancelRequest":
        return {"id": rng.choice(NUMBERS)}
    return {"textDocument": doc} if method.startswith("textDocument/") else {}


def _spoil(rng: random.Random, value):
    """One field of a params object dropped or given a value of the wrong type."""
    if not isinstance(value, dict) or not value:
        return rng.choice(WRONG)
    key = rng.choice(sorted(value))
    out = dict(value)
    if rng.random() < 0.4:
        del out[key]
    else:
        out[key] = _spoil(rng, value[key]) if isinstance(value[key], dict) else rng.choice(WRONG)
    return out


def session(rng: random.Random, door: Door) -> list[dict]:
    messages = [_message(1, "initialize", {"processId": None, "capabilities": {}})]
    if rng.random() < 0.8:
        messages.append(_message(None, "textDocument/didOpen", _params(
            rng, door, "textDocument/didOpen") | {"textDocument": {
                "uri": URI, "languageId": "aespec", "version": 0, "text": _text(rng, door)}}))
    for k in range(rng.randrange(1, 5)):
        request = rng.random() < 0.6
        method = rng.choice(REQUESTS if request else NOTIFICATIONS)
        if method in ("exit", "initialized") and rng.random() < 0.8:
            method = "textDocument/didSave"
        params = _params(rng, door, method)
        if rng.random() < 0.3:
            params = _spoil(rng, params)
        msg_id = rng.choice([k + 2, k + 2, str(k + 2), 1, -1]) if request else None
        messages.append(_message(msg_id, method, params))
    return messages


HEADERS = [b"Content-Length: -5\r\n\r\n", b"Content-Length: 99999999999999\r\n\r\n{}",
           b"Content-Length: 1e3\r\n\r\n", b"content-length: 10\r\n\r\n0123456789",
           b"Content-Length:10\r\n\r\n0123456789", b"Content-Type: x\r\n\r\n",
           b"Content-Length: 5\n\n", b"\r\n" * 1000, b"A" * 1_000_000 + b"\r\n",
           b"Content-Length: 2\r\nContent-Length: 4\r\n\r\n{}", b"Content-Length: 10\r\n\r\n{",
           b"Content-Length: 0\r\n\r\n", b"\xff\xfe\r\n\r\n"]
BODIES = [b"[]", b"5", b'"x"', b"null", b"{}", b"[" * 100_000, b'{"jsonrpc": "2.0"}',
          b'{"jsonrpc": "2.0", "id": 1}', b'{"jsonrpc": "1.0", "id": 1, "method": "shutdown"}',
          b'{"jsonrpc": "2.0", "id": {}, "method": "textDocument/hover", "params": []}',
          b"\xff\xfe not json", b'{"jsonrpc": "2.0", "method": 5}']


def stream(rng: random.Random, door: Door) -> bytes:
    parts = []
    for _ in range(rng.randrange(1, 6)):
        choice = rng.randrange(3)
        if choice == 0:
            parts.append(rng.choice(HEADERS))
        elif choice == 1:
            parts.append(_frame(rng.choice(BODIES)))
        else:
            parts.append(_frame(json.dumps(rng.choice(session(rng, door))).encode(
                "utf-8", "surrogatepass")))
    return b"".join(parts)


def inputs(rng: random.Random, n: int, folder: Path
           ) -> Iterator[tuple[str, str, Callable[[], object]]]:
    door = Door(folder)
    for i in range(n):
        if i % 30 == 0:
            data = stream(rng, door)
            yield "stream", repr(data[:300]), lambda d=data: door.stream(d)
            continue
        messages = session(rng, door)
        shown = " ".join(f"{m['method']}{json.dumps(m['params'])[:80]}" for m in messages[1:])
        # a URI that blocks (a FIFO's) or a huge text must not stop the other sessions
        sent = [json.dumps(m) for m in messages]
        kind = "session" + " fifo" * any("pipe.ae" in t for t in sent) + " huge" * any(
            len(t) > 5_000_000 for t in sent)
        yield kind, shown, lambda m=messages: door.session(m)
