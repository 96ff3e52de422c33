"""Rendered map pages kept in memory until the inventory changes.

A page costs a chain computation and a few hundred milliseconds; inspectors open the same city map
again and again. A page is reused while the inventory's version (`map_rows.inventory_version`: row
count and a sum of every row's id and `updated_at`, which triggers keep current, of every inventory
table, plus the road network's size) is the one it was built from: any committed edit changes it, a
capacity or a status as much as a position, whichever transaction commits first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable


class PageCache:
    def __init__(self, max_pages: int = 32):
        self.max_pages = max_pages
        self._pages: OrderedDict[Hashable, tuple[str, str]] = OrderedDict()
        self._lock = threading.Lock()  # routes run in a thread pool

    def get_or_build(self, key: Hashable, version: str, build: Callable[[], str]) -> str:
        with self._lock:
            hit = self._pages.get(key)
            if hit is not None and hit[0] == version:
                self._pages.move_to_end(key)
                return hit[1]
        page = build()  # outside the lock: two first requests may both build, neither waits
        with self._lock:
            self._pages[key] = (version, page)
            self._pages.move_to_end(key)
            while len(self._pages) > self.max_pages:
                self._pages.popitem(last=False)
        return page
