"""`aespec lsp`: the language server on stdin and stdout, for editors (docs/editors.md)."""

from __future__ import annotations

from aespec.cli.app import app


@app.command("lsp")
def lsp_command() -> None:
    """Run the language server over stdio (diagnostics, hover, completion, formatting)."""
    from aespec.lsp.server import serve  # pygls is loaded only by this command

    serve()
