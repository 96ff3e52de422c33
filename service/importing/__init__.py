"""Reading a city's own files for import: open them, match their columns, read their values and positions.

`rows.read(path, layer, options)` is the entry point; nothing here writes to the database.
"""
