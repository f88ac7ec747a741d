"""The lsp stage: the `.ae` language server (pygls) over the front end."""
