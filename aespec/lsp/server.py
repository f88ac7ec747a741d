"""`aespec lsp`: the language server, pygls over stdio.

On open and on every change the document is checked with `check_source` (the diagnostics of
`aespec check`, same codes and spans) and the result kept for hover, completion, go to
definition, formatting (`aespec fmt`'s layout) and document symbols. A check takes a few
milliseconds, so there is no debounce.

Only documents the client has opened are answered for (a request naming any other uri gets
a null result): the server reads no file, so a uri cannot make it read /dev/zero or a file
outside the workspace. `transport` bounds what is read from the client and answers every
request, one that cannot be handled with a JSON-RPC error.
"""

from __future__ import annotations

import gc
import logging
import sys
from urllib.parse import unquote

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace.position_codec import PositionCodec, ServerTextPosition

from aespec.errors import AespecError, Diagnostic, Span
from aespec.lsp.complete import complete
from aespec.lsp.document import Document, analyse, token_span
from aespec.lsp.hover import hover_text
from aespec.lsp.transport import AespecProtocol, BoundedStdin, converter
from aespec.parse.fmt import code_text, format_source

SYMBOL_KINDS = {"model": lsp.SymbolKind.Module, "let": lsp.SymbolKind.Constant,
                "data": lsp.SymbolKind.Package, "input": lsp.SymbolKind.Interface,
                "noise": lsp.SymbolKind.Event, "loss": lsp.SymbolKind.Operator,
                "regularize": lsp.SymbolKind.Operator, "train": lsp.SymbolKind.Object,
                "report": lsp.SymbolKind.Object}


class AespecServer(LanguageServer):
    """The server and the latest analysis of each open document."""

    def __init__(self) -> None:
        super().__init__("aespec", _version(), protocol_cls=AespecProtocol,
                         converter_factory=converter)
        self.documents: dict[str, Document] = {}

    def codec(self) -> PositionCodec:
        return self.workspace.position_codec

    def refresh(self, uri: str) -> Document | None:
        """Check the document's current text and publish its diagnostics (None, and nothing
        published, for a uri the client has not opened)."""
        # the workspace's own table: `get_text_document` would read an unopened uri's file
        text = self.workspace.text_documents.get(unquote(uri))
        if text is None:
            self.documents.pop(uri, None)
            return None
        doc = self.documents[uri] = analyse(text.source, _path(uri))
        diagnostics = [to_lsp(d, doc.lines, self.codec()) for d in doc.result.diagnostics]
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
            uri=uri, diagnostics=diagnostics, version=text.version))
        return doc

    def document(self, uri: str) -> Document | None:
        """The analysis of an open document; None for any other uri (never read)."""
        return self.documents.get(uri)

    def position(self, doc: Document, pos: lsp.Position) -> tuple[int, int]:
        """A client position -> 0-based (line, code-point column) in our lines."""
        p = self.codec().position_from_client_units(doc.lines, pos)
        return p.line, p.character


def _path(uri: str) -> str | None:
    """The file a `file:` uri names, for diagnostics to print (never opened)."""
    try:
        return to_fs_path(uri) if uri.startswith("file:") else None
    except ValueError:  # urlparse's refusal: `file://[x` is a bad IPv6 host
        return None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aespec")
    except PackageNotFoundError:
        return "0"


def to_range(span: Span | None, lines: list[str], codec: PositionCodec) -> lsp.Range:
    """A 1-based, end-exclusive `Span` -> an LSP range in the client's units."""
    if span is None:
        return lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
    last = max(len(lines) - 1, 0)

    def pos(line: int, col: int) -> lsp.Position:
        line = min(max(line - 1, 0), last)
        col = min(max(col - 1, 0), len(lines[line]) if lines else 0)
        return codec.position_to_client_units(lines, ServerTextPosition(line, col))
    return lsp.Range(pos(span.line, span.column), pos(span.end_line, span.end_column))


def to_lsp(d: Diagnostic, lines: list[str], codec: PositionCodec) -> lsp.Diagnostic:
    severity = lsp.DiagnosticSeverity.Warning if d.severity == "warning" else \
        lsp.DiagnosticSeverity.Error
    message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
    return lsp.Diagnostic(range=to_range(d.span, lines, codec), message=message,
                          severity=severity, code=d.code, source="aespec")


server = AespecServer()

# checked once at start-up, so that the first edit does not pay for the front end's
# first-time work (lazy imports, the parser's tables, did-you-mean's matcher)
_WARM_UP = ("input vector(4)\nencoder {\n    dense(2) relu\n}\nbottleneck {\n    dense(2)\n}\n"
            "decoder {\n    dens(4)\n}\ntrain {\n    epochs 1\n}\n")


@server.feature(lsp.INITIALIZED)
def initialized(ls: AespecServer, params: lsp.InitializedParams) -> None:
    analyse(_WARM_UP)
    analyse(_WARM_UP.replace("dens(", "dense("))
    format_source(_WARM_UP)
    # what is loaded now (the modules, the parser's tables) lives as long as the server:
    # out of the collector's sight, so that a full collection does not pause an edit
    gc.collect()
    gc.freeze()


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: AespecServer, params: lsp.DidOpenTextDocumentParams) -> None:
    ls.refresh(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: AespecServer, params: lsp.DidChangeTextDocumentParams) -> None:
    ls.refresh(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: AespecServer, params: lsp.DidCloseTextDocumentParams) -> None:
    ls.documents.pop(params.text_document.uri, None)
    ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
        uri=params.text_document.uri, diagnostics=[]))


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
def hover(ls: AespecServer, params: lsp.HoverParams) -> lsp.Hover | None:
    doc = ls.document(params.text_document.uri)
    if doc is None:
        return None
    line, char = ls.position(doc, params.position)
    text = hover_text(doc, line, char)
    if text is None:
        return None
    tok = doc.token_at(line, char)
    return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, text),
                     to_range(token_span(tok), doc.lines, ls.codec()) if tok else None)


@server.feature(lsp.TEXT_DOCUMENT_COMPLETION,
                lsp.CompletionOptions(trigger_characters=["(", ",", " "]))
def completion(ls: AespecServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    doc = ls.document(params.text_document.uri)
    if doc is None:
        return lsp.CompletionList(is_incomplete=False, items=[])
    line, char = ls.position(doc, params.position)
    return lsp.CompletionList(is_incomplete=False, items=complete(doc, line, char))


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
def definition(ls: AespecServer, params: lsp.DefinitionParams) -> lsp.Location | None:
    doc = ls.document(params.text_document.uri)
    if doc is None:
        return None
    tok = doc.token_at(*ls.position(doc, params.position))
    target = doc.definitions().get(tok.text) if tok is not None and tok.kind == "name" else None
    if target is None:
        return None
    return lsp.Location(params.text_document.uri,
                        to_range(token_span(target), doc.lines, ls.codec()))


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: AespecServer, params: lsp.DocumentFormattingParams
               ) -> list[lsp.TextEdit] | None:
    doc = ls.document(params.text_document.uri)
    if doc is None:
        return None
    source = doc.source
    try:
        formatted = format_source(source)
    except AespecError:
        return None  # a syntax error: its diagnostic is already shown
    if formatted == source:
        return []
    lines = source.split("\n")
    end = lsp.Position(len(lines) - 1, ls.codec().client_num_units(lines[-1]))
    return [lsp.TextEdit(lsp.Range(lsp.Position(0, 0), end), formatted)]


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbols(ls: AespecServer, params: lsp.DocumentSymbolParams
                     ) -> list[lsp.DocumentSymbol]:
    doc = ls.document(params.text_document.uri)
    return symbols(doc, ls.codec()) if doc is not None else []


def symbols(doc: Document, codec: PositionCodec) -> list[lsp.DocumentSymbol]:
    """The top-level statements, blocks with their lines as children."""
    out: list[lsp.DocumentSymbol] = []
    children: list[list[lsp.DocumentSymbol]] = []  # each symbol's, filled in as lines come
    for cl in doc.code:
        first, last = cl.tokens[0], cl.tokens[-1]
        if first.text == "}":
            if out and cl.depth == 0:  # the end of a top-level block
                out[-1].range.end = to_range(token_span(last), doc.lines, codec).end
            continue
        span = Span(first.line, first.column + 1, last.line, last.column + 1 + len(last.text))
        rng = to_range(span, doc.lines, codec)
        words = [t.text for t in cl.tokens]
        if cl.depth == 0:
            name = " ".join(words[:2]) if first.text in ("model", "let") else first.text
            detail = code_text(cl.tokens[1:]) if first.text not in ("model", "let") else None
            kind = SYMBOL_KINDS.get(first.text, lsp.SymbolKind.Class)
            children.append([])
            out.append(lsp.DocumentSymbol(name, kind, rng, to_range(
                token_span(first), doc.lines, codec), detail=detail, children=children[-1]))
        elif out and cl.depth == 1:
            children[-1].append(lsp.DocumentSymbol(
                code_text(cl.tokens), lsp.SymbolKind.Function, rng, rng))
    return out


class _OneLine(logging.Formatter):
    """A log record as one line on stderr (the editor's log of the server): a client's
    malformed message is worth a line there, not a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text = text.split("\n", 1)[0] + f" ({type(exc).__name__}: {exc})"
        return f"aespec lsp: {record.levelname.lower()}: " + text.split("\n", 1)[0]


def serve() -> None:
    """Run the server on stdin and stdout until the client ends it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    server.start_io(stdin=BoundedStdin(sys.stdin.buffer))  # type: ignore[arg-type]
