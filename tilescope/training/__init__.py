"""Training code for tilescope's own models (needs the `train` extra: torch; never imported
by the app). Each model has a package here runnable as ``python -m tilescope.training.NAME``.
"""
