"""Line charts as inline SVG text, for the HTML pages: no matplotlib, no file, no script.

    >>> svg = line_chart("loss", [Series("train", [1, 2], [0.5, 0.4])])

A chart scales to the width of its box (a viewBox and no fixed size) and its text stays
large enough to read on a projector.  Plain numbers in, text out: the title and names are
escaped (they may come from a run folder written by anyone), and a value that is not a
finite number is not drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aespec.report.markup import Html, html, shorten

WIDTH, HEIGHT = 720, 400
LEFT, RIGHT, TOP, BOTTOM = 92, 24, 56, 64  # the plot area's margins
# colour-blind-safe (Okabe-Ito), in the order runs and splits take them
COLOURS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442",
           "#000000")


@dataclass(frozen=True)
class Series:
    """One line: its name in the legend, the points, its colour and dash."""

    name: str
    xs: list[float]
    ys: list[float]
    colour: str = COLOURS[0]
    dashed: bool = False
    marker: str = "circle"  # one of MARKERS: runs drawn over each other stay told apart
    width: float = 3.0  # stroke width: an earlier run drawn wider shows under a later one


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round values (1, 2 or 5 times a power of ten) covering [lo, hi]; just
    the ends for a range too wide or too narrow for floats to divide."""
    if not hi > lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / count
    if not (math.isfinite(raw) and raw > 1e-300):
        return [lo, hi]
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    ticks = [first + i * step for i in range(int(math.ceil((hi - first) / step)) + 1)]
    return [round(t, 12) for t in ticks]


def _fmt(v: float) -> str:
    return "0" if v == 0 else f"{v:.4g}"


def line_chart(title: str, series: list[Series], marker: float | None = None,
               marker_text: str = "best", x_label: str = "epoch",
               boundaries: tuple[tuple[float, str], ...] = ()) -> Html:
    """The series on shared axes with a legend; `marker` draws a vertical line at that x
    (the best epoch); each of `boundaries` (x, name) a solid line where a phase begins,
    named at the foot.  Points are drawn as dots too, so a one-epoch run shows something."""
    shown = [s for s in series if _points(s)]
    if not shown:
        return Html("")
    xs = [x for s in shown for x, _ in _points(s)]
    ys = [y for s in shown for _, y in _points(s)]
    y_ticks = nice_ticks(min(ys), max(ys))
    x_lo, x_hi = min(xs), max(xs)
    if x_hi == x_lo:
        pad = max(1.0, abs(x_lo) * 0.01)
        x_lo, x_hi = x_lo - pad, x_hi + pad
    x_ticks = [t for t in nice_ticks(x_lo, x_hi, 6) if x_lo <= t <= x_hi and t == int(t)]
    if min(xs) not in x_ticks and all(t - min(xs) >= (x_hi - x_lo) / 6 for t in x_ticks):
        x_ticks.insert(0, min(xs))  # the first epoch, where it is not crowded
    y_lo, y_hi = y_ticks[0], y_ticks[-1]
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x_lo) / (x_hi - x_lo) * pw

    def py(y: float) -> float:
        return TOP + (1 - (y - y_lo) / (y_hi - y_lo)) * ph

    title = shorten(title, 60)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif">',
             html("<title>{}</title>", title),
             html(f'<text x="{LEFT}" y="30" font-size="22" font-weight="600">{{}}</text>', title)]
    for t in y_ticks:
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{py(t):.1f}" y2="{py(t):.1f}" '
                     'stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{py(t) + 6:.1f}" font-size="17" '
                     f'text-anchor="end">{_fmt(t)}</text>')
    for t in x_ticks:
        parts.append(f'<text x="{px(t):.1f}" y="{TOP + ph + 24}" font-size="17" '
                     f'text-anchor="middle">{_fmt(t)}</text>')
    parts.append(html(f'<text x="{LEFT + pw / 2}" y="{HEIGHT - 10}" font-size="17" '
                      'text-anchor="middle">{}</text>', x_label))
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" '
                 'stroke="#888"/>')
    if isinstance(marker, (int, float)) and math.isfinite(marker) and x_lo <= marker <= x_hi:
        parts.append(f'<line x1="{px(marker):.1f}" x2="{px(marker):.1f}" y1="{TOP}" '
                     f'y2="{TOP + ph}" stroke="#666" stroke-dasharray="2 4"/>')
        right = px(marker) > LEFT + pw - 60  # the label to the left of a line at the end
        parts.append(f'<text x="{px(marker) + (-6 if right else 6):.1f}" y="{TOP + 20}" '
                     f'font-size="16" fill="#444" text-anchor="{"end" if right else "start"}">'
                     + html("{}</text>", marker_text))
    for x, name in boundaries:
        if math.isfinite(x) and x_lo <= x <= x_hi:
            parts.append(f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{TOP}" y2="{TOP + ph}" '
                         'stroke="#999" stroke-width="2"/>')
            parts.append(f'<text x="{px(x) + 6:.1f}" y="{TOP + ph - 8}" font-size="15" '
                         'fill="#555">' + html("{}</text>", shorten(name, 24)))
    for s in shown:
        parts += _line(s, px, py)
    parts += _legend(shown, LEFT + pw)
    parts.append("</svg>")
    return Html("".join(parts))  # numbers and escaped text only


LIMIT = 1e300  # values are drawn clipped to +-LIMIT, so that no axis's span overflows


def _points(s: Series) -> list[tuple[float, float]]:
    """The series' points that can be drawn: both coordinates finite numbers (clipped)."""
    return [(min(max(x, -LIMIT), LIMIT), min(max(y, -LIMIT), LIMIT))
            for x, y in zip(s.xs, s.ys, strict=False) if math.isfinite(x) and math.isfinite(y)]


MAX_DOTS = 400  # points past this are a line only: a dot each would only make the page big
MARKERS = ("circle", "square", "triangle", "diamond")


def marker_svg(shape: str, x: float, y: float, colour: str, r: float = 4.0) -> str:
    """A point's mark: a dot, a square, a triangle or a diamond of about radius r."""
    if shape == "square":
        return (f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r:.1f}" '
                f'height="{2 * r:.1f}" fill="none" stroke="{colour}" stroke-width="2"/>')
    if shape in ("triangle", "diamond"):
        pts = ([(x, y - 1.3 * r), (x + 1.2 * r, y + r), (x - 1.2 * r, y + r)] if shape ==
               "triangle" else [(x, y - 1.4 * r), (x + 1.4 * r, y), (x, y + 1.4 * r),
                                (x - 1.4 * r, y)])
        return (f'<polygon points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in pts)}" '
                f'fill="none" stroke="{colour}" stroke-width="2"/>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}"/>'


def _line(s: Series, px, py) -> list[str]:
    points = [(px(x), py(y)) for x, y in _points(s)]
    dash = ' stroke-dasharray="8 5"' if s.dashed else ""
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    colour = s.colour if s.colour in COLOURS else COLOURS[0]  # an attribute: ours only
    shape = s.marker if s.marker in MARKERS else "circle"
    width = min(max(float(s.width), 1.0), 12.0)
    out = [f'<polyline points="{path}" fill="none" stroke="{colour}" '
           f'stroke-width="{width:g}"{dash}/>']
    if len(points) <= MAX_DOTS:
        r = 4.0 if shape == "circle" else 6.0
        out += [marker_svg(shape, x, y, colour, r) for x, y in points]
    return out


def _legend(series: list[Series], right: float) -> list[str]:
    """The names at the top right, above the plot, each after a short line in its style."""
    out, x = [], right
    for s in reversed([s for s in series if s.name]):  # a nameless line is explained elsewhere
        name = shorten(s.name, 40)
        width = 34 + 9.5 * len(name)
        x -= width + 14
        dash = ' stroke-dasharray="8 5"' if s.dashed else ""
        colour = s.colour if s.colour in COLOURS else COLOURS[0]
        out.append(f'<line x1="{x:.1f}" x2="{x + 26:.1f}" y1="44" y2="44" stroke="{colour}" '
                   f'stroke-width="3"{dash}/>')
        if s.marker != "circle" and s.marker in MARKERS:
            out.append(marker_svg(s.marker, x + 13, 44, colour, 5.0))
        out.append(html(f'<text x="{x + 32:.1f}" y="50" font-size="17">{{}}</text>', name))
    return out
