"""The graph stage: `Spec` -> graph IR with every shape inferred; checks and summaries.

`build_ir(spec, bag)` gives an `IR` (`aespec.graph.ir`) of typed nodes and edges;
`run_checks` adds the E3xx errors and W4xx warnings of autoencoder theory; `check_source` /
`check_file` run the whole front end (parse, resolve, graph, checks) and return a
`CheckResult`, whose `ir` every later stage takes.
"""

from aespec.graph.build import build_ir
from aespec.graph.frontend import CheckResult, check_file, check_source, check_spec
from aespec.graph.ir import IR, Edge, Node

__all__ = ["IR", "CheckResult", "Edge", "Node", "build_ir", "check_file", "check_source",
           "check_spec"]
