"""Batch inference over many slides: the same per-slide job, on this machine or a Dask cluster."""
