"""The graph stage: `Spec` -> graph IR with every shape inferred; checks and summaries.

`build_graph(spec, bag)` gives a networkx DiGraph of plain data; `run_checks` adds the
E3xx errors and W4xx warnings of autoencoder theory; `check_source` / `check_file` run the
whole front end (parse, resolve, graph, checks) and return a `CheckResult`.
"""

from aespec.graph.build import build_graph
from aespec.graph.checking import CheckResult, check_file, check_source, check_spec

__all__ = ["CheckResult", "build_graph", "check_file", "check_source", "check_spec"]
