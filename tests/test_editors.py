"""The VS Code extension in editors/vscode: its JSON files parse, name each other, and the
TextMate grammar's scopes (its regexes run with Python's `re`, which reads the constructs it
uses as Oniguruma does) cover the keywords, ops, comments and numbers of every shipped spec.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from aespec.ops import REGISTRY
from aespec.parse.fmt import ORDER, tokenize

ROOT = Path(__file__).resolve().parents[1]
VSCODE = ROOT / "editors" / "vscode"
GRAMMAR = json.loads((VSCODE / "syntaxes" / "aespec.tmLanguage.json").read_text("utf-8"))
OPS = {name for table in REGISTRY.values() for name in table}


def test_the_extension_files_parse_and_point_at_each_other():
    package = json.loads((VSCODE / "package.json").read_text("utf-8"))
    json.loads((VSCODE / "language-configuration.json").read_text("utf-8"))
    [language] = package["contributes"]["languages"]
    [grammar] = package["contributes"]["grammars"]
    assert language["extensions"] == [".ae"] and grammar["language"] == language["id"]
    assert (VSCODE / grammar["path"]).is_file() and (VSCODE / language["configuration"]).is_file()
    assert grammar["scopeName"] == GRAMMAR["scopeName"]
    main = (VSCODE / package["main"]).read_text("utf-8")
    assert "vscode-languageclient" in main and "vscode-languageclient" in package["dependencies"]
    assert package["contributes"]["configuration"]["properties"]["aespec.server.command"][
        "default"] == ["aespec", "lsp"]


def _rules() -> list[tuple[re.Pattern, dict]]:
    repo = GRAMMAR["repository"]
    rules = []
    for include in GRAMMAR["patterns"]:
        rule = repo[include["include"].lstrip("#")]
        for r in [rule] if "match" in rule or "begin" in rule else rule["patterns"]:
            rules.append((re.compile(r.get("match") or r["begin"]), r))
    return rules


def test_every_regex_compiles():
    assert len(_rules()) >= 15


def scopes(line: str) -> dict[int, str]:
    """The scope of each character of one line: at each point the rule matching first
    (earliest start, then the grammar's order) wins, as TextMate does."""
    out: dict[int, str] = {}
    pos = 0
    rules = _rules()
    while pos < len(line):
        found = [(m.start(), i, m, r) for i, (rx, r) in enumerate(rules)
                 if (m := rx.search(line, pos))]
        if not found:
            break
        start, _, m, rule = min(found, key=lambda f: f[:2])
        end = m.end()
        if "begin" in rule:  # a string: up to its closing quote
            close = re.compile(rule["end"]).search(line, end)
            end = close.end() if close else len(line)
        for group, capture in rule.get("captures", {}).items():
            for k in range(m.start(int(group)), m.end(int(group))):
                out[k] = capture["name"]
        for k in range(start, end):
            out.setdefault(k, rule.get("name", ""))
        pos = max(end, pos + 1)
    return out


def test_the_grammar_names_every_op_of_the_registry():
    pattern = re.compile(GRAMMAR["repository"]["op"]["match"])
    assert {name for name in OPS if pattern.fullmatch(name)} == OPS


@pytest.mark.parametrize("path", sorted((ROOT / "specs").glob("*.ae")), ids=lambda p: p.name)
def test_scopes_cover_each_specs_keywords_ops_comments_and_numbers(path):
    lines = path.read_text("utf-8").split("\n")
    tokens = tokenize("\n".join(lines))
    for prev, tok, nxt in zip([None, *tokens[:-1]], tokens, [*tokens[1:], None], strict=True):
        scope = scopes(lines[tok.line - 1]).get(tok.column, "")
        first = prev is None or prev.kind == "nl"
        if tok.kind == "comment":
            assert scope.startswith("comment."), tok
        elif tok.kind == "number":
            assert scope.startswith("constant.numeric"), tok
        elif tok.kind == "string":
            assert scope.startswith("string."), tok
        elif first and tok.text in ORDER:
            assert scope == "keyword.control.statement.aespec", tok
        elif tok.kind == "name" and tok.text in OPS and not first and prev.text not in (
                "model", "let") and (nxt is None or nxt.text != "="):
            assert scope == "support.function.op.aespec", (tok, scope)


NODE = shutil.which("node")
STUBS = """
const Module = require("module");
const seen = {};
const stubs = {
  vscode: { workspace: { getConfiguration: (s) => ({ get: (k, d) => d }) } },
  "vscode-languageclient/node": {
    TransportKind: { stdio: 0 },
    LanguageClient: class {
      constructor(id, name, server, options) { Object.assign(seen, { id, server, options }); }
      start() { seen.started = true; return Promise.resolve(); }
      stop() { return Promise.resolve(); }
    },
  },
};
const load = Module._load;
Module._load = (request, ...rest) => stubs[request] || load(request, ...rest);
const ext = require(process.argv[1]);
const context = { subscriptions: [] };
Promise.resolve(ext.activate(context)).then(() => {
  console.log(JSON.stringify({ ...seen, subscriptions: context.subscriptions.length }));
});
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_client_starts_aespec_lsp_for_ae_files():
    """extension.js run by node with stand-ins for the vscode modules."""
    done = subprocess.run([NODE, "-e", STUBS, str(VSCODE / "extension.js")],
                          capture_output=True, text=True, timeout=30, check=True)
    seen = json.loads(done.stdout)
    assert seen["server"]["run"] == {"command": "aespec", "args": ["lsp"], "transport": 0}
    assert {"scheme": "file", "language": "aespec"} in seen["options"]["documentSelector"]
    assert seen["started"] and seen["subscriptions"] == 1
