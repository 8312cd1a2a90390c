"""Modules imported on first use, so that checking rule files stays free of pandas, numpy and pandera."""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """A module imported on first attribute access, which then takes this object's place in the owner's globals.

    Checking rule files (``tailor rules check``, run on every save) needs neither pandas, numpy nor pandera —
    about 2 s of imports on a small machine. The data paths import them on first use; after that, the module
    global *is* the real module, so hot loops pay nothing.
    """

    __slots__ = ("_name", "_namespace", "_alias")

    def __init__(self, name: str, namespace: dict[str, Any], alias: str):
        self._name, self._namespace, self._alias = name, namespace, alias

    def load(self) -> Any:
        module = importlib.import_module(self._name)
        if self._namespace.get(self._alias) is self:
            self._namespace[self._alias] = module
        return module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.load(), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"
