"""Pure slicing values: extents, points, regions (with their text grammar) and value meshes."""

from __future__ import annotations

from meshtrio._slicing.extent import Extent, Point
from meshtrio._slicing.region import Region
from meshtrio._slicing.value_mesh import ValueMesh

__all__ = ["Extent", "Point", "Region", "ValueMesh"]
