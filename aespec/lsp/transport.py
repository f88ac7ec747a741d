"""The server's end of the wire, bounded: what an editor (or anything on its stdin) sends
can neither make the server allocate without limit nor leave a request unanswered.

pygls's read loop takes a header line with `readline()` and a body with one
`read(Content-Length)`, so a header of `Content-Length: 1000000000000` asked for a terabyte
at once; and a request whose params do not fit their type raised out of `json.loads`,
was logged, and never answered, so the editor waited on it for ever. Here a header line
is at most MAX_HEADER bytes, a body at most MAX_MESSAGE (a larger one is read in chunks
and dropped, and the server keeps serving), and every request gets a response: its result,
or a JSON-RPC error (-32600 for a message that is no request, -32602 for params that do
not fit, -32600 too after `shutdown`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import unquote

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.protocol import LanguageServerProtocol, default_converter
from pygls.protocol.language_server import lsp_method

logger = logging.getLogger(__name__)

# bytes in one message: the largest spec (MAX_SOURCE characters, each at most 12 bytes of
# JSON escapes) is under 1 MiB; and json.loads makes some 28 bytes of objects of each byte
# of `[[],[],...]`, so this keeps a message's parse near 110 MB at worst
MAX_MESSAGE = 4 << 20
MAX_HEADER = 1024  # bytes in one header line (so at most a few hundred digits for int())
_CHUNK = 1 << 16
DROPPED = b"{}"  # what the read loop gets for a dropped body: JSON that is no message


class BoundedStdin:
    """The server's stdin as pygls's reader uses it (`readline`, `read(n)`), every read
    bounded."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw

    def readline(self) -> bytes:
        # a longer line comes back in pieces, none of which is a header pygls knows
        return self.raw.readline(MAX_HEADER)

    def read(self, n: int) -> bytes:
        if n <= MAX_MESSAGE:
            return self.raw.read(n)
        # the header says where the next message starts: reading up to there, a chunk at
        # a time, keeps the stream in step, and the server serves the message after it
        logger.error("dropped a message of %d bytes (at most %d are read)", n, MAX_MESSAGE)
        while n > 0:
            chunk = self.raw.read(min(n, _CHUNK))
            if not chunk:
                return b""  # the client closed the stream: the read loop ends
            n -= len(chunk)
        return DROPPED


def converter() -> Any:
    """pygls's converter, failing at the first field that does not fit. cattrs' detailed
    validation tries every element of a list and keeps an exception for each: a didChange
    whose `contentChanges` was a string of 100,000 characters took 8 s (one failed event
    per character, then a traceback of them all), a stall any client could cause."""
    typed = default_converter()
    typed.detailed_validation = False  # read when each type's hook is made, on first use
    return typed


def _request_id(message: dict[str, Any]) -> int | str | None:
    """The id to answer a malformed request with: its own where JSON-RPC allows one."""
    msg_id = message.get("id")
    return msg_id if isinstance(msg_id, (int, str)) and not isinstance(msg_id, bool) else None


class AespecProtocol(LanguageServerProtocol):
    """pygls's protocol with each message structured whole, so that one whose params do not
    fit is answered (an error response) instead of raised out of the read loop."""

    @lsp_method(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: lsp.DidChangeTextDocumentParams
                                      ) -> Iterator[Any]:
        """pygls's own, less its KeyError for a document the client never opened: a change
        to nothing changes nothing (the server answers only for opened documents)."""
        if unquote(params.text_document.uri) not in self.workspace.text_documents:
            logging.getLogger(__name__).info("a change to %s, which is not open, is ignored",
                                             params.text_document.uri[:200])
            return
        # pygls drives the handler as a generator (it yields the user's handler to call)
        yield from LanguageServerProtocol.lsp_text_document__did_change(self, params)

    def structure_message(self, data: dict[str, Any]) -> Any:
        return data  # `json.loads`'s hook: plain dicts; `handle_message` types the message

    def handle_message(self, message: Any) -> None:
        if not isinstance(message, dict) or message.get("jsonrpc") != self.VERSION or \
                not isinstance(message.get("method", ""), str) or \
                _is_request(message) and _request_id(message) is None:
            return self._refuse(message, JsonRpcInvalidRequest("not a JSON-RPC 2.0 message"))
        if self._shutdown and _is_request(message) and message["method"] != lsp.EXIT:
            return self._refuse(message, JsonRpcInvalidRequest("the server is shut down"))
        try:
            typed = LanguageServerProtocol.structure_message(self, message)
        except JsonRpcException:
            return self._refuse(message, JsonRpcInvalidParams())
        if _is_request(message) and getattr(typed, "id", None) is None:
            # a notification's method with an id: typed as a notification, it would run
            # and nobody would answer the id
            return self._refuse(message, JsonRpcInvalidRequest(f"{message['method']!r} is a "
                                                               "notification, not a request"))
        super().handle_message(typed)

    def _refuse(self, message: Any, error: JsonRpcException) -> None:
        """Answer a request that cannot be handled with `error`; a notification or a
        response is dropped (nobody waits on it). One log line either way."""
        method = message.get("method") if isinstance(message, dict) else None
        if _is_request(message):
            logger.warning("answered %.80r with %s", method, error.message)
            # an id JSON-RPC does not allow (a list, a bool) is answered as null
            self._send_response(_request_id(message),  # type: ignore[arg-type]
                                error=error.to_response_error())
        else:
            logger.warning("dropped a message (%.80r): %s", method, error.message)


def _is_request(message: Any) -> bool:
    return isinstance(message, dict) and "id" in message and "method" in message
