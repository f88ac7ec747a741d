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


# ---------------------------------------------------------------- packaging and Neovim

def test_the_extension_has_what_vsce_package_asks_for():
    """`vsce package` stops at a missing licence, and at a relative link in the README
    of an extension with no `repository` (it cannot tell where the link would point)."""
    manifest = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    assert manifest["license"] == "MIT" and manifest["publisher"] and manifest["engines"]
    assert (VSCODE / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    readme = (VSCODE / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)]+)\)", readme)
    assert all(re.match(r"https?://", link) for link in links), links
    assert "npx @vscode/vsce package --allow-missing-repository" in readme


def _vsce() -> str | None:
    import os

    return os.environ.get("AESPEC_VSCE") or shutil.which("vsce")


@pytest.mark.slow
@pytest.mark.skipif(_vsce() is None, reason="vsce is not installed (npm i -g @vscode/vsce)")
def test_the_extension_packages_with_the_documented_command(tmp_path):
    folder = tmp_path / "vscode"
    shutil.copytree(VSCODE, folder)
    done = subprocess.run([_vsce(), "package", "--allow-missing-repository",
                           "--no-dependencies"], cwd=folder, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (folder / "aespec-0.1.0.vsix").is_file()


NVIM_TEST = """
dofile(vim.env.AESPEC_NVIM_PLUGIN)
vim.cmd("edit " .. vim.fn.fnameescape(vim.env.AESPEC_NVIM_SPEC))
local ok = vim.wait(30000, function() return #vim.diagnostic.get(0) > 0 end, 100)
local lines = { "filetype=" .. vim.bo.filetype, "commentstring=" .. vim.bo.commentstring,
                "diagnostics=" .. tostring(ok) }
for _, d in ipairs(vim.diagnostic.get(0)) do
  table.insert(lines, string.format("%d:%d %s", d.lnum + 1, d.col + 1, d.message))
end
vim.fn.writefile(lines, vim.env.AESPEC_NVIM_OUT)
vim.cmd("qa!")
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nvim") is None, reason="Neovim is not installed")
def test_the_neovim_plugin_attaches_aespec_lsp(tmp_path):
    """editors/neovim/aespec.lua on the Neovim installed (Debian 12's is 0.7.2): the
    filetype, `#` comments, and the server's diagnostic at its place."""
    import os
    import sys

    spec = tmp_path / "spec.ae"
    spec.write_text("data digits\ninput vector(64)\nencoder {\n    dense(32) ReLU\n}\n"
                    "bottleneck {\n    dense(8)\n}\ndecoder mirror\nloss bce\n")
    script, out = tmp_path / "test.lua", tmp_path / "out.txt"
    script.write_text(NVIM_TEST)
    cmd = "let g:aespec_lsp_cmd = " + json.dumps([sys.executable, "-m", "aespec", "lsp"])
    env = {**os.environ, "AESPEC_NVIM_PLUGIN": str(ROOT / "editors" / "neovim" / "aespec.lua"),
           "AESPEC_NVIM_SPEC": str(spec), "AESPEC_NVIM_OUT": str(out),
           "PYTHONPATH": str(ROOT)}
    subprocess.run(["nvim", "--headless", "-u", "NONE", "-i", "NONE", "--cmd", cmd,
                    "-c", f"luafile {script}"], cwd=tmp_path, env=env, timeout=120,
                   capture_output=True, stdin=subprocess.DEVNULL)
    lines = out.read_text().splitlines()
    assert lines[:3] == ["filetype=aespec", "commentstring=# %s", "diagnostics=true"]
    assert any(line.startswith("4:15 unknown layer op 'ReLU'") for line in lines[3:]), lines
