"""The lsp stage: the `.ae` language server (`aespec lsp`, pygls over stdio).

`document` checks a text with the front end (`check_source`) and indexes its tokens;
`hover`, `complete` answer from that; `server` wires them, the diagnostics, definitions,
formatting (`aespec.parse.fmt`) and document symbols to the protocol.
"""
