"""The engine: slide readers, tile cache, annotation store, inference runner. Never imports Qt."""
