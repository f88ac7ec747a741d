"""The one drawing style table: how each kind of op looks in `aespec draw`.

`STYLES` maps a style key (`OpDef.style or OpDef.kind`, plus the nodes that are not ops:
input, latent, kl, loss, regularizer) to graphviz node attributes.  `BLOCKS` styles the
clusters, `EDGES` the edges that are not plain data flow.  `aespec.draw.dot` takes every colour
and shape from here, so an op looks the same in every diagram.  The palette is pale fills
with darker borders of the same hue, told apart by hue and by border style.
"""

from __future__ import annotations

FONT = "Helvetica"  # metric-compatible Liberation Sans where Helvetica itself is missing

STYLES: dict[str, dict[str, str]] = {
    "input": {"shape": "box", "style": "rounded,filled,bold", "fillcolor": "#eceff1",
              "color": "#455a64"},
    "noise": {"shape": "box", "style": "rounded,filled,dashed", "fillcolor": "#ffe0b2",
              "color": "#e65100"},
    "layer": {"shape": "box", "style": "rounded,filled", "fillcolor": "#d7e8f7",
              "color": "#1f5f99"},
    "conv": {"shape": "box", "style": "rounded,filled", "fillcolor": "#d5efe9",
             "color": "#00695c"},
    "norm": {"shape": "box", "style": "rounded,filled", "fillcolor": "#eef0e4",
             "color": "#5f6b2e", "fontsize": "11"},
    "activation": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fff3c4",
                   "color": "#9a7d0a", "fontsize": "11"},
    "shape": {"shape": "box", "style": "filled", "fillcolor": "#ffffff", "color": "#757575",
              "fontsize": "11", "height": "0.3", "margin": "0.08,0.03"},
    "join": {"shape": "box", "style": "rounded,filled,bold", "fillcolor": "#f8d9ec",
             "color": "#ad1457", "fontsize": "11"},
    "latent": {"shape": "box", "style": "rounded,filled", "fillcolor": "#e6dcf5",
               "color": "#5e35b1", "margin": "0.05,0.05"},
    "kl": {"shape": "box", "style": "filled", "fillcolor": "#fde2e4", "color": "#b71c1c"},
    "loss": {"shape": "box", "style": "filled,bold", "fillcolor": "#fde2e4",
             "color": "#b71c1c"},
    "regularizer": {"shape": "box", "style": "filled,dashed", "fillcolor": "#fdf1dc",
                    "color": "#8d6e00"},
    # not a node: the muted second line of a node (parameter counts, notes)
    "note": {"fontcolor": "#4f5b62", "fontsize": "10"},
}

BLOCKS: dict[str, dict[str, str]] = {
    "noise": {"style": "rounded,filled,dashed", "fillcolor": "#fff8ef", "color": "#e65100",
              "fontcolor": "#e65100"},
    "encoder": {"style": "rounded,filled", "fillcolor": "#f2f7fc", "color": "#1f5f99",
                "fontcolor": "#1f5f99"},
    "bottleneck": {"style": "rounded,filled", "fillcolor": "#f6f1fc", "color": "#5e35b1",
                   "fontcolor": "#5e35b1"},
    "decoder": {"style": "rounded,filled", "fillcolor": "#f1f8f1", "color": "#2e7d32",
                "fontcolor": "#2e7d32"},
    "discriminator": {"style": "rounded,filled", "fillcolor": "#fbf3ee", "color": "#8d4e2a",
                      "fontcolor": "#8d4e2a"},
    "head": {"style": "rounded,filled", "fillcolor": "#fdf6e3", "color": "#9e7700",
             "fontcolor": "#9e7700"},  # a supervised head (`head on code`)
}

EDGES: dict[str, dict[str, str]] = {
    "data": {"color": "#37474f"},
    # a GAN's generated samples into its discriminator: the generator's (decoder's) green
    "fake": {"style": "dashed", "color": "#2e7d32", "fontcolor": "#2e7d32", "penwidth": "1.4"},
    "skip": {"style": "dashed", "color": "#ad1457", "fontcolor": "#ad1457",
             "penwidth": "1.4"},
    "target": {"style": "dashed", "color": "#b71c1c", "fontcolor": "#b71c1c"},
    "loss": {"color": "#b71c1c", "fontcolor": "#b71c1c"},
    "kl": {"color": "#5e35b1", "fontcolor": "#5e35b1"},
    "regularizer": {"style": "dotted", "color": "#8d6e00", "fontcolor": "#8d6e00",
                    "arrowhead": "none", "penwidth": "1.4"},
}


def style_for(key: str) -> dict[str, str]:
    """The attributes of a style key; an unknown key draws as a plain layer."""
    return STYLES.get(key, STYLES["layer"])
