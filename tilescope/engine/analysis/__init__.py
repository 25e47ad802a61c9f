"""Cell analysis: shape and stain measurements, object classifiers, summaries by region.

`measure_objects` measures many objects at once (vectorised per tile, no loop per object);
`classifier` trains and applies ONNX classifiers on the measurements; `summary` counts and
densities of classes inside annotation regions. No Qt here: the GUI and CLI both call it.
"""
