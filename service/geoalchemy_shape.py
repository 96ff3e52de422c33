"""GeoAlchemy 2 without Shapely and NumPy until a Shapely geometry is asked for (D115).

GeoAlchemy 2 imports its `shape` module (`to_shape`, `from_shape`) when the package is imported,
and that module imports Shapely and with it NumPy: about 20 MiB of the idle service's 122, though
the tables need only GeoAlchemy 2's column types and the service converts geometries in PostGIS.
`install()` puts a stand-in for `geoalchemy2.shape` in `sys.modules` before GeoAlchemy 2 is
imported. The one name GeoAlchemy 2 binds from it at import, `to_shape` (its dialects convert a
plain WKB value with it), forwards to the real module; any other name of the stand-in loads the real
module and answers from it. Once loaded, the real module replaces the stand-in everywhere it is
looked up, so `geoalchemy2.shape` is GeoAlchemy 2's own from then on.

If a later GeoAlchemy 2 binds another name from `shape` at import, the stand-in loads the real
module there: nothing breaks, Shapely is loaded at start again, and `tests/test_lazy_imports.py`
says so.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import threading
import types
from typing import Any

NAME = "geoalchemy2.shape"
_lock = threading.Lock()


def real() -> types.ModuleType:
    """GeoAlchemy 2's own `shape` module, loaded (with Shapely) on the first call."""
    module = sys.modules.get(NAME)
    if module is not None and not isinstance(module, _StandIn):
        return module
    with _lock:
        module = sys.modules.get(NAME)
        if module is not None and not isinstance(module, _StandIn):
            return module
        package = sys.modules["geoalchemy2"]  # the stand-in's names are only reached through it
        spec = importlib.machinery.PathFinder.find_spec(NAME, package.__path__)
        if spec is None or spec.loader is None:
            raise ImportError(f"GeoAlchemy 2 has no module {NAME}", name=NAME)
        module = importlib.util.module_from_spec(spec)
        sys.modules[NAME] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules[NAME] = _stand_in
            raise
        package.shape = module  # type: ignore[attr-defined]
        return module


def to_shape(element: Any) -> Any:
    """GeoAlchemy 2's `to_shape(element)`: a WKB or WKT element as a Shapely geometry."""
    return real().to_shape(element)


class _StandIn(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name != "__all__":  # the import system's probes (`__path__`)
            raise AttributeError(name)
        return getattr(real(), name)


_stand_in = _StandIn(NAME, "GeoAlchemy 2's `shape` until it is used (service.geoalchemy_shape).")
_stand_in.to_shape = to_shape  # type: ignore[attr-defined]


def install() -> bool:
    """Put the stand-in in place when GeoAlchemy 2 is not imported yet; True when it was."""
    if "geoalchemy2" in sys.modules or NAME in sys.modules:
        return False
    sys.modules[NAME] = _stand_in
    return True
