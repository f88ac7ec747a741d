"""The draw stage: graph IR -> DOT -> picture (graphviz's `dot`). Never imports torch.

`to_dot(graph, spec)` is the DOT text, `write_drawing` renders it to a file, `to_svg` gives
the SVG text; labels are built in `aespec.draw.labels`, colours come from
`aespec.ops.styles`.
"""

from aespec.draw.dot import to_dot, to_svg, write_drawing

__all__ = ["to_dot", "to_svg", "write_drawing"]
