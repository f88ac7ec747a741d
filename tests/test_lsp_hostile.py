"""`aespec lsp` against a client that sends anything: raw bytes on the server's stdin
(`python -m aespec lsp` in a subprocess), read back by a thread. A header may claim any
length, a request may carry any params, a uri may name any file: the server allocates
nothing unbounded, reads no file, answers every request and keeps serving.
"""

from __future__ import annotations

import json
import os
import queue
import random
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from aespec.lsp.transport import MAX_MESSAGE

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
SPEC = "input vector(64)\nencoder {\n    dense(16) relu\n}\nbottleneck {\n    dense(4)\n}\n" \
       "decoder {\n    dense(64) sigmoid\n}\n"
pytestmark = pytest.mark.slow  # server processes


def frame(body: bytes | dict | list) -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return b"Content-Length: %d\r\n\r\n" % len(data) + data


class Wire:
    """One server process, spoken to in bytes; what it writes, collected by threads."""

    def __init__(self, memory: int | None = None) -> None:
        def limit() -> None:  # in the child: the address space it may take
            if memory is not None:
                resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

        self.proc = subprocess.Popen([sys.executable, "-m", "aespec", "lsp"], env=ENV,
                                     cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, preexec_fn=limit)
        self.inbox: queue.Queue[dict] = queue.Queue()
        self.answers: dict[Any, dict] = {}
        self.log: list[bytes] = []
        self.readers = [threading.Thread(target=self._read, daemon=True),
                        threading.Thread(target=lambda: self.log.extend(self.proc.stderr),
                                         daemon=True)]
        for reader in self.readers:
            reader.start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while (line := out.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line or length is None:
                return
            self.inbox.put(json.loads(out.read(length)))

    def send(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self.send(frame({"jsonrpc": "2.0", "method": method, "params": params}))

    def ask(self, msg_id: Any, method: str, params: Any = None, timeout: float = 10) -> dict:
        message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        self.send(frame(message if params is None else {**message, "params": params}))
        return self.answer(msg_id, timeout)

    def answer(self, msg_id: Any, timeout: float = 10) -> dict:
        """The response with this id, waiting at most `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        while msg_id not in self.answers:
            try:
                got = self.inbox.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                raise AssertionError(f"no answer to request {msg_id!r} in {timeout} s; "
                                     f"log: {b''.join(self.log)[-2000:]!r}") from None
            if "id" in got and "method" not in got:
                self.answers[got["id"]] = got
        return self.answers.pop(msg_id)

    def start(self) -> Wire:
        assert "result" in self.ask(1, "initialize", {"processId": None, "rootUri":
                                                      ROOT.as_uri(), "capabilities": {}})
        self.notify("initialized", {})
        return self

    def open(self, uri: str, text: str = SPEC) -> None:
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "aespec", "version": 1, "text": text}})

    def hover(self, msg_id: Any, uri: str, line: int = 2, char: int = 5) -> dict:
        return self.ask(msg_id, "textDocument/hover", {"textDocument": {"uri": uri},
                                                       "position": {"line": line,
                                                                    "character": char}})

    def logged(self, text: str, timeout: float = 5) -> str:
        """The server's log once it holds `text` (its stderr is read by a thread)."""
        deadline = time.monotonic() + timeout
        while text not in (log := b"".join(self.log).decode(errors="replace")) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        return log

    def stop(self) -> int:
        """`shutdown` answered, `exit`: the process ends by itself; its exit status."""
        assert self.ask("bye", "shutdown")["result"] is None
        self.notify("exit", None)
        return self.proc.wait(timeout=10)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for reader in self.readers:
            reader.join(timeout=5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            pipe.close()


@pytest.fixture(scope="module")
def wire():
    server = Wire().start()
    yield server
    server.kill()


def uri_of(name: str) -> str:
    return (ROOT / name).as_uri()


def test_regression_a_terabyte_content_length_killed_the_server():
    """`Content-Length: 10**12` was one `read(10**12)`: a MemoryError out of the read loop.
    Now the body is read in chunks and dropped, in a process held to 4 GiB, and the
    server ends cleanly when the client closes the stream."""
    server = Wire(memory=4 << 30)
    try:
        server.start()
        server.send(b"Content-Length: 1000000000000\r\n\r\n{\"jsonrpc\": \"2.0\"}")
        server.proc.stdin.close()
        assert server.proc.wait(timeout=20) == 0
        log = server.logged("dropped a message of 1000000000000 bytes")
        assert "dropped a message of 1000000000000 bytes" in log, log
        assert "Traceback" not in log and "MemoryError" not in log, log
    finally:
        server.kill()


def test_regression_a_message_over_the_cap_is_dropped_and_the_server_serves_on(wire):
    uri = uri_of("huge.ae")
    wire.open(uri, "#" * MAX_MESSAGE)  # with its JSON around it, past the cap
    assert wire.hover("big-1", uri)["result"] is None  # it was never opened
    wire.open(uri_of("after-huge.ae"))
    assert "dense" in json.dumps(wire.hover("big-2", uri_of("after-huge.ae"))["result"])
    assert "dropped a message of" in wire.logged("dropped a message of")


def test_regression_a_hover_on_dev_zero_read_it_without_end(wire, tmp_path):
    """A request for a document the client has not opened read the uri's file (pygls's
    `get_text_document`): /dev/zero for ever, a FIFO until a writer came, any file the
    uri named. Only opened documents are answered for now; nothing is read."""
    outside = tmp_path / "outside.ae"
    outside.write_text(SPEC, encoding="utf-8")  # a spec the server would hover if it read it
    fifo = tmp_path / "pipe.ae"
    os.mkfifo(fifo)
    for n, uri in enumerate(["file:///dev/zero", outside.as_uri(), fifo.as_uri(),
                             "untitled:Untitled-1", "file:///%00"]):
        at = {"textDocument": {"uri": uri}, "position": {"line": 2, "character": 5}}
        assert wire.hover(f"zero-{n}", uri)["result"] is None
        assert wire.ask(f"def-{n}", "textDocument/definition", at)["result"] is None
        assert wire.ask(f"sym-{n}", "textDocument/documentSymbol",
                        {"textDocument": {"uri": uri}})["result"] == []
        assert wire.ask(f"fmt-{n}", "textDocument/formatting", {
            "textDocument": {"uri": uri}, "options": {"tabSize": 4, "insertSpaces": True}}
        )["result"] is None
        assert wire.ask(f"cmp-{n}", "textDocument/completion", at)["result"]["items"] == []


def test_a_uri_that_names_no_path_leaves_the_server_serving(wire):
    """`file://[x` makes urlparse raise (pygls then keeps no document for it)."""
    wire.open("file://[x/bad.ae")
    assert "result" in wire.hover("no-path", "file://[x/bad.ae")
    wire.open(uri_of("after-no-path.ae"))
    assert "dense" in json.dumps(wire.hover("path", uri_of("after-no-path.ae"))["result"])


_URI = {"uri": uri_of("malformed.ae")}
MALFORMED = [  # (method, params): every one is answered
    ("textDocument/hover", {"textDocument": _URI, "position": {"line": -1, "character": 0}}),
    ("textDocument/hover", {"textDocument": _URI, "position": {"line": 10**12,
                                                                "character": 0}}),
    ("textDocument/hover", {"textDocument": _URI, "position": {"line": "two", "character": 5}}),
    ("textDocument/hover", {"textDocument": _URI, "position": {"line": 2}}),
    ("textDocument/hover", {"textDocument": _URI}),
    ("textDocument/hover", {"textDocument": _URI, "position": {"line": 0,
                                                                "character": None}}),
    ("textDocument/hover", [1, 2]),
    ("textDocument/hover", None),
    ("textDocument/completion", {"textDocument": _URI, "position": {"line": 0,
                                                                     "character": -3}}),
    ("textDocument/completion", {"textDocument": _URI, "position": [0, 0]}),
    ("textDocument/definition", {"textDocument": None, "position": {"line": 0,
                                                                     "character": 0}}),
    ("textDocument/formatting", {"textDocument": _URI}),
    ("textDocument/formatting", {"textDocument": _URI, "options": {"tabSize": "x"}}),
    ("textDocument/documentSymbol", {"textDocument": {}}),
    ("textDocument/documentSymbol", "text"),
    ("initialize", {"capabilities": 5}),
]
IN_RANGE = [  # valid types, positions anywhere: a result
    {"line": 2**31 - 1, "character": 2**31 - 1}, {"line": 2, "character": 10**6},
    {"line": 400, "character": 0}, {"line": 0, "character": 0},
]


@pytest.mark.parametrize("n, method, params", [(n, *case) for n, case in enumerate(MALFORMED)])
def test_regression_a_request_with_malformed_params_was_never_answered(wire, n, method,
                                                                       params):
    """Params that do not fit their type raised out of pygls's `json.loads` hook: logged,
    never answered, the editor waiting. Now: -32602, and the server serves on."""
    wire.open(_URI["uri"])
    got = wire.ask(f"bad-{n}", method, params)
    assert got["error"]["code"] == -32602, got
    assert "dense" in json.dumps(wire.hover(f"after-{n}", _URI["uri"])["result"])


@pytest.mark.parametrize("position", IN_RANGE)
def test_positions_past_the_text_get_a_result(wire, position):
    uri = uri_of("positions.ae")
    wire.open(uri)
    for method in ("textDocument/hover", "textDocument/completion", "textDocument/definition"):
        got = wire.ask(f"{method}-{position}", method, {"textDocument": {"uri": uri},
                                                        "position": position})
        assert "result" in got, got


# ------------------------------------------------------------------------------ the fuzz

METHODS = ["textDocument/hover", "textDocument/completion", "textDocument/definition",
           "textDocument/documentSymbol", "textDocument/formatting", "textDocument/didOpen",
           "textDocument/didChange", "textDocument/didClose", "$/cancelRequest", "no/such",
           "", "workspace/executeCommand", "textDocument/rename", "initialize"]
JUNK = [None, True, -1, 2**31, 10**30, 1.5, "", "x" * 300, [], {}, [[[]]], {"uri": 5},
        "\U0001F600", "file:///dev/zero"]


def _params(rnd: random.Random, fuzz_uri: str) -> Any:
    """Params shaped like the real ones, then broken at a random place or two."""
    params: dict[str, Any] = {
        "textDocument": {"uri": fuzz_uri, "languageId": "aespec", "version": rnd.randint(0, 9),
                         "text": rnd.choice([SPEC, SPEC[:rnd.randint(0, len(SPEC))], "{(\n"])},
        "position": {"line": rnd.randint(0, 20), "character": rnd.randint(0, 40)},
        "contentChanges": [{"text": rnd.choice(["", "conv(", SPEC]), "range": {
            "start": {"line": rnd.randint(0, 30), "character": rnd.randint(0, 30)},
            "end": {"line": rnd.randint(0, 30), "character": rnd.randint(0, 30)}}}],
        "options": {"tabSize": 4, "insertSpaces": True}, "id": rnd.randint(0, 300),
        "capabilities": {}}
    for _ in range(rnd.randint(0, 2)):
        where = params
        path = rnd.choice([["position", "line"], ["position", "character"], ["textDocument"],
                           ["textDocument", "uri"], ["contentChanges"], ["options"],
                           ["position"], ["id"]])
        for key in path[:-1]:
            where = where[key] if isinstance(where.get(key), dict) else {}
        if rnd.random() < 0.3:
            where.pop(path[-1], None)
        else:
            where[path[-1]] = rnd.choice(JUNK)
    return params if rnd.random() < 0.9 else rnd.choice(JUNK)


def _message(rnd: random.Random, n: int, fuzz_uri: str) -> tuple[dict, Any]:
    """A JSON-RPC message (a request, with an id, most of the time) and the id its answer
    must carry (None where JSON-RPC gives it none to carry)."""
    msg_id = rnd.choice([n, -n - 1, 10**20 + n, f"s{n}", [n], True, 1.5, None, {"n": n}])
    message: dict[str, Any] = {"jsonrpc": rnd.choice(["2.0"] * 8 + ["1.0", 2]),
                               "method": rnd.choice(METHODS * 4 + [5, None]),
                               "params": _params(rnd, fuzz_uri)}
    if rnd.random() < 0.8:
        message["id"] = msg_id
    if rnd.random() < 0.1:
        del message[rnd.choice(["jsonrpc", "params", "method"])]
    answered = "id" in message and "method" in message and isinstance(msg_id, (int, str)) \
        and not isinstance(msg_id, bool)
    return message, msg_id if answered else None


def _broken_body(rnd: random.Random, good: bytes) -> bytes:
    return rnd.choice([
        good[:rnd.randint(0, len(good) - 1)], good + b"}", b"\xff\xfe" + good,
        bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 200))).replace(b"\n", b" "),
        b"[" * 100_000, b"1" + b"0" * 5000, b"NaN", b"null", b"\"text\"", b"[]",
        b"[" + good + b"," + good + b"]", b"{\"jsonrpc\": \"2.0\", \"id\": " + b"9" * 5000 + b"}",
    ])


def _bad_frame(rnd: random.Random, good: bytes) -> bytes:
    """Framing that is wrong but leaves the reader at the start of a line with no length
    pending (a body the server does not take as one ends in a line break of its own), so
    the messages after it still arrive."""
    return rnd.choice([
        b"Content-Length: -1\r\n\r\n" + good + b"\r\n",
        b"content-length: %d\r\n\r\n" % len(good) + good + b"\r\n",
        b"Content-Length:%d\r\n\r\n" % len(good) + good + b"\r\n",
        b"Content-Length: %d\n\n" % len(good) + good + b"\r\n",
        b"Content-Length: 0\r\n\r\n" + good + b"\r\n",
        b"Content-Length: 0x10\r\n\r\n" + good + b"\r\n",
        b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n" + good + b"\r\n",
        b"X-Junk: " + b"a" * 100_000 + b"\r\n" + frame(good),
        b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n" + frame(good),
        b"Content-Length: %d\r\n\r\n" % (len(good) // 2) + good + b"\r\n",
        b"\r\n\r\n" + frame(good),
    ])


def fuzz(seed: int, count: int, fuzz_uri: str) -> tuple[bytes, list[Any]]:
    """`count` messages, seeded: the bytes to send and the ids that must be answered."""
    rnd = random.Random(seed)
    stream, ids = [], []
    for n in range(count):
        message, msg_id = _message(rnd, 1000 + n, fuzz_uri)
        good = json.dumps(message).encode()
        kind = rnd.random()
        if kind < 0.6:
            stream.append(frame(good))
            ids += [] if msg_id is None else [msg_id]
        elif kind < 0.8:
            stream.append(frame(_broken_body(rnd, good)))
        else:
            stream.append(_bad_frame(rnd, good))
    return b"".join(stream), ids


def test_regression_fuzzed_messages_leave_the_server_answering():
    """200 seeded messages: bad JSON, wrong types, huge and malformed ids, unknown methods,
    broken headers. Every request that JSON-RPC lets be answered is; then a hover and a
    shutdown are answered within seconds, and the server's log has no traceback."""
    server = Wire(memory=4 << 30).start()
    try:
        stream, ids = fuzz(seed=20240611, count=200, fuzz_uri=uri_of("fuzzed.ae"))
        assert len(ids) > 30  # the seed makes requests, not only noise
        started = time.monotonic()
        server.send(stream)
        for msg_id in ids:
            assert "result" in (got := server.answer(msg_id, 15)) or "error" in got
        server.open(uri_of("after-fuzz.ae"))
        assert "dense" in json.dumps(server.hover("after", uri_of("after-fuzz.ae"))["result"])
        assert server.stop() == 0
        assert time.monotonic() - started < 20
        log = b"".join(server.log).decode(errors="replace")
        assert "Traceback" not in log, log[-3000:]
    finally:
        server.kill()


def test_regression_a_did_change_to_an_unopened_document_raised_key_error():
    import io
    import threading

    from pygls.io_ import run

    from aespec.lsp.server import AespecServer

    ls, errors = AespecServer(), []
    ls.report_server_error = lambda error, source: errors.append(error)

    class Sink:
        def write(self, data):
            pass

        def close(self):
            pass

    ls.protocol.set_writer(Sink(), include_headers=False)

    def frame(message):
        body = json.dumps(message).encode()
        return b"Content-Length: %d\r\n\r\n" % len(body) + body

    messages = [{"jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": {"processId": None, "capabilities": {}}},
                {"jsonrpc": "2.0", "method": "textDocument/didChange",
                 "params": {"textDocument": {"uri": "file:///never-opened.ae", "version": 1},
                            "contentChanges": [{"text": "model x"}]}}]
    stream = io.BufferedReader(io.BytesIO(b"".join(map(frame, messages))))
    run(threading.Event(), stream, ls.protocol)
    assert errors == []


def test_regression_a_string_where_a_list_goes_stalled_the_server(wire):
    """pygls's converter tried each character of a string sent as `contentChanges` as a
    change event and kept an exception for each: 100,000 characters stalled the server
    8 s, the 4 MiB a message may hold over a minute. The converter now stops at the first
    field that does not fit, and the request after it is answered at once."""
    uri = uri_of("stall.ae")
    wire.open(uri)
    started = time.monotonic()  # the writes below block while the server is stalled
    wire.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                           "contentChanges": "x" * (MAX_MESSAGE - 200)})
    assert wire.ask("list", "textDocument/documentSymbol",
                    {"textDocument": [{"uri": uri}] * 50_000})["error"]["code"] == -32602
    assert "dense" in json.dumps(wire.hover("after-stall", uri)["result"])
    assert time.monotonic() - started < 20  # was minutes
