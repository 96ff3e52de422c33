"""Editing the inventory: validated writes with versions, history and restore (OGC API Features Part 4)."""
