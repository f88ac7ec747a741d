"""The self-organizing map's torch modules: the map itself (`som`) and its decoder (`prototype`).

Both are defined in portable.py, whose text an emitted file copies (`aespec emit`), so the
compiled model and the emitted one run the same code.  `SelfOrganizingMap` holds the
codebook, one prototype per unit, (units, features); its forward gives the winner's grid
position (row, col) as the code z; its `term` is the neighbourhood-weighted squared distance
that trains the codebook; `measures` gives the quantization and topographic errors.  The
winner is always chosen without gradient.  Its grid is that of aespec.ops.grid (the report's
maps), computed in torch (tests/test_specs_som.py checks that they agree).
"""

from __future__ import annotations

from aespec.ops.portable import Prototype, SelfOrganizingMap

__all__ = ["Prototype", "SelfOrganizingMap"]
