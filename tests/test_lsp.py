"""`aespec lsp` end to end: a real server process (`python -m aespec lsp`) over stdio,
driven by pytest-lsp's client. One server serves the whole module (it takes a few seconds
to start); each test opens its own document.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
import pytest_lsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types as lsp
from pygls.workspace.position_codec import PositionCodec
from pytest_lsp import ClientServerConfig, LanguageClient
from typer.testing import CliRunner

from aespec.cli import app
from aespec.graph.frontend import check_source
from aespec.lsp.complete import complete
from aespec.lsp.document import analyse
from aespec.lsp.hover import hover_text, shape_text
from aespec.lsp.server import symbols
from aespec.parse.fmt import format_source

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
ON_SERVER = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]  # one server, started once

BROKEN = """let width = 32
input image(1, 28, 28)
encoder {
    conv(width, k=3) relu
    maxpool(2)
    conv(widht, k=3) relu
}
bottleneck {
    conv(8, k=3) relu
}
decoder {
    upsample(2)
    conv(1, k=3) sigmoid
}
loss bce
"""


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(
    server_command=[sys.executable, "-m", "aespec", "lsp"], server_env=ENV))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(lsp.InitializeParams(
        capabilities=pytest_lsp.client_capabilities("visual-studio-code"),
        root_uri=ROOT.as_uri()))
    yield
    await lsp_client.shutdown_session()


_opened = 0


async def open_doc(client: LanguageClient, text: str, name: str | None = None
                   ) -> tuple[str, list[lsp.Diagnostic]]:
    """Open `text` as a new document; its uri and the diagnostics published for it."""
    global _opened
    _opened += 1
    uri = (ROOT / (name or f"untitled-{_opened}.ae")).as_uri()
    waiting = client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        lsp.TextDocumentItem(uri=uri, language_id="aespec", version=1, text=text)))
    params = await asyncio.wait_for(waiting, 60)
    assert params.uri == uri
    return uri, list(params.diagnostics)


def position(text: str, needle: str, offset: int = 0) -> lsp.Position:
    before = text[:text.index(needle) + offset]
    return lsp.Position(before.count("\n"), len(before.rsplit("\n", 1)[-1]))


@ON_SERVER[0]
@ON_SERVER[1]
async def test_diagnostics_at_the_range_and_cleared_by_the_fix(client: LanguageClient):
    uri, diagnostics = await open_doc(client, BROKEN)
    [d] = [d for d in diagnostics if d.severity == lsp.DiagnosticSeverity.Error]
    assert d.code == "E205" and "widht" in d.message and "hint: did you mean 'width'" in d.message
    assert d.range == lsp.Range(lsp.Position(5, 9), lsp.Position(5, 14))  # check says 6:10
    waiting = client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        lsp.VersionedTextDocumentIdentifier(uri=uri, version=2),
        [lsp.TextDocumentContentChangePartial(
            range=lsp.Range(lsp.Position(5, 9), lsp.Position(5, 14)), text="width")]))
    params = await asyncio.wait_for(waiting, 60)
    assert [d.code for d in params.diagnostics
            if d.severity == lsp.DiagnosticSeverity.Error] == []


@ON_SERVER[0]
@ON_SERVER[1]
async def test_warnings_are_warnings_with_their_code(client: LanguageClient):
    text = (ROOT / "specs" / "inpainting_unet.ae").read_text(encoding="utf-8")
    expected = [(d.code, d.span.line - 1) for d in check_source(text).diagnostics]
    _, diagnostics = await open_doc(client, text)
    assert [(d.code, d.range.start.line) for d in diagnostics] == expected
    assert expected and all(d.severity == lsp.DiagnosticSeverity.Warning for d in diagnostics)


def _node_positions(text: str):
    g = check_source(text).ir
    for n in g.order:
        d = g.nodes[n]
        if d.kind != "input" and not d.mirror:
            yield n, d, lsp.Position(d.span.line - 1, d.span.column - 1)


async def _hover(client: LanguageClient, uri: str, pos: lsp.Position) -> str:
    result = await client.text_document_hover_async(lsp.HoverParams(
        lsp.TextDocumentIdentifier(uri=uri), pos))
    assert result is not None
    return result.contents.value


@ON_SERVER[0]
@ON_SERVER[1]
async def test_hover_shapes_are_the_checks_shapes(client: LanguageClient):
    path = ROOT / "specs" / "denoising_conv.ae"
    text = path.read_text(encoding="utf-8")
    uri, _ = await open_doc(client, text)
    for _, d, pos in _node_positions(text):
        assert f"**{shape_text(d.out_shape)}**" in await _hover(client, uri, pos)
    model = json.loads(CliRunner().invoke(app, ["check", "--json", str(path)]).output)["model"]
    g = check_source(text).ir
    for block, key in (("bottleneck", "z"), ("decoder", "output")):
        span = g.nodes[g.outputs[block]].span
        hover = await _hover(client, uri, lsp.Position(span.line - 1, span.column - 1))
        assert f"**{shape_text(tuple(model[key]))}**" in hover
    hover = await _hover(client, uri, position(text, "conv(width * 2"))
    assert "conv(channels, k=3" in hover and "parameters" in hover  # the registry's entry
    hover = await _hover(client, uri, position(text, "conv(width", 5))
    assert "let width = 32" in hover and "**32**" in hover


@ON_SERVER[0]
@ON_SERVER[1]
async def test_completion_offers_ops_keys_and_names(client: LanguageClient):
    text = "let w = 8\ninput vector(64)\nencoder {\n    \n}\ntrain {\n    \n}\n"
    uri, _ = await open_doc(client, text)

    async def labels(line: int, char: int) -> set[str]:
        result = await client.text_document_completion_async(lsp.CompletionParams(
            lsp.TextDocumentIdentifier(uri=uri), lsp.Position(line, char)))
        return {item.label for item in result.items}

    assert {"dense", "conv", "relu", "repeat"} <= await labels(3, 4)
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        lsp.VersionedTextDocumentIdentifier(uri=uri, version=2),
        [lsp.TextDocumentContentChangePartial(range=lsp.Range(lsp.Position(3, 4),
                                                              lsp.Position(3, 4)),
                                              text="conv(")]))
    assert {"channels=", "k=", "stride=", "w"} <= await labels(3, 9)
    assert {"epochs", "optimizer", "device"} <= await labels(6, 4)
    assert {"encoder", "train", "report", "data"} <= await labels(8, 0)


@ON_SERVER[0]
@ON_SERVER[1]
async def test_definition_jumps_to_the_let_and_the_named_tensor(client: LanguageClient):
    text = (ROOT / "specs" / "denoising_conv.ae").read_text(encoding="utf-8")
    uri, _ = await open_doc(client, text)
    result = await client.text_document_definition_async(lsp.DefinitionParams(
        lsp.TextDocumentIdentifier(uri=uri), position(text, "conv(width", 6)))
    let_line = text[:text.index("let width")].count("\n")
    assert result.uri == uri and result.range.start == lsp.Position(let_line, 4)
    text = (ROOT / "specs" / "inpainting_unet.ae").read_text(encoding="utf-8")
    uri, _ = await open_doc(client, text)
    result = await client.text_document_definition_async(lsp.DefinitionParams(
        lsp.TextDocumentIdentifier(uri=uri), position(text, "    concat(e1)", 12)))
    assert result.range.start == position(text, "    e1 = conv", 4)


@ON_SERVER[0]
@ON_SERVER[1]
async def test_formatting_is_aespec_fmt(client: LanguageClient, tmp_path):
    text = "input   vector( 64 )\nencoder{\n  dense(8)  relu # code\n}\nmodel  m\n"
    uri, _ = await open_doc(client, text)
    edits = await client.text_document_formatting_async(lsp.DocumentFormattingParams(
        lsp.TextDocumentIdentifier(uri=uri), lsp.FormattingOptions(tab_size=4,
                                                                    insert_spaces=True)))
    [edit] = edits
    assert edit.range.start == lsp.Position(0, 0) and edit.range.end == lsp.Position(5, 0)
    spec = tmp_path / "m.ae"
    spec.write_text(text, encoding="utf-8")
    assert CliRunner().invoke(app, ["fmt", str(spec)]).exit_code == 0
    assert edit.new_text == format_source(text) == spec.read_text(encoding="utf-8")
    uri, _ = await open_doc(client, "input vector(64\n")
    assert await client.text_document_formatting_async(lsp.DocumentFormattingParams(
        lsp.TextDocumentIdentifier(uri=uri), lsp.FormattingOptions(4, True))) is None


@ON_SERVER[0]
@ON_SERVER[1]
async def test_document_symbols_are_the_blocks(client: LanguageClient):
    text = (ROOT / "specs" / "denoising_conv.ae").read_text(encoding="utf-8")
    uri, _ = await open_doc(client, text)
    result = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(
        lsp.TextDocumentIdentifier(uri=uri)))
    names = [s.name for s in result]
    assert names == ["model denoising_conv", "let width", "data", "input", "noise", "encoder",
                     "bottleneck", "decoder", "loss", "regularize", "train", "report"]
    encoder = result[names.index("encoder")]
    assert [c.name for c in encoder.children] == ["conv(width, k=3) relu", "maxpool(2)",
                                                  "conv(width * 2, k=3) relu", "maxpool(2)"]
    assert text.split("\n")[encoder.range.end.line].startswith("}")


@ON_SERVER[0]
@ON_SERVER[1]
async def test_a_mirror_shows_every_op_it_builds(client: LanguageClient):
    text = (ROOT / "specs" / "mirror_tied.ae").read_text(encoding="utf-8")
    uri, _ = await open_doc(client, text)
    hover = await _hover(client, uri, position(text, "decoder mirror", 8))
    g = check_source(text).ir
    mirrored = [d for d in g.nodes.values() if d.mirror]
    assert len(mirrored) == 5 and hover.count("(decoder)") == 5
    assert all(f"**{shape_text(d.out_shape)}**" in hover for d in mirrored)


@ON_SERVER[0]
@ON_SERVER[1]
async def test_ranges_are_in_utf16_units(client: LanguageClient):
    """A character outside the BMP is two UTF-16 units: a range after it moves by one more
    than its code-point column."""
    text = BROKEN.replace("    conv(widht, k=3) relu",
                          '    conv(pad="\U0001F600", channels=widht) relu')
    [d] = [d for d in check_source(text).diagnostics if d.code == "E205"]
    _, diagnostics = await open_doc(client, text)
    [got] = [g for g in diagnostics if g.code == "E205"]
    assert got.range == lsp.Range(lsp.Position(5, d.span.column),
                                  lsp.Position(5, d.span.end_column))


SPEC_TEXTS = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "specs").glob("*.ae"))[:8]]


@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SPEC_TEXTS), st.integers(0, 10**6), st.integers(0, 10**6),
       st.sampled_from(["", "(", ")", "{", "}", "=", "conv(", "#", '"', "\n", "let ",
                        "\U0001F600"]))
def test_features_answer_anything_at_any_position(text, at, where, insert):
    """Half-typed text, any position: hover, completion, definitions and symbols never
    raise (a server that raises drops the editor's request)."""
    cut = at % (len(text) + 1)
    text = text[:cut] + insert + text[cut:]
    doc = analyse(text)
    line = where % (len(doc.lines) + 1)
    char = where % (len(doc.lines[line]) + 2) if line < len(doc.lines) else 0
    hover_text(doc, line, char)
    complete(doc, line, char)
    doc.definitions()
    symbols(doc, PositionCodec())


def test_completion_offers_the_discriminator_its_target():
    text = "discriminator \ndiscriminator on \n"
    doc = analyse(text)
    assert [i.label for i in complete(doc, 0, 14)] == ["on"]
    assert [i.label for i in complete(doc, 1, 17)] == ["code"]
