// The aespec extension: starts `aespec lsp` (the command in the `aespec.server.command`
// setting) over stdio and connects VS Code's language client to it for .ae files.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace
    .getConfiguration("aespec")
    .get("server.command", ["aespec", "lsp"]);
  const server = { command, args, transport: TransportKind.stdio };
  client = new LanguageClient(
    "aespec",
    "aespec language server",
    { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "aespec" }, { scheme: "untitled", language: "aespec" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
