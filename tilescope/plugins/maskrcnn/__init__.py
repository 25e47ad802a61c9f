"""The `maskrcnn` model type and its model-independent parts.

`outputs` maps ONNX outputs to detections by name, `paste` puts per-box masks into image
space, `polygons` turns a mask into an outline, `seams` removes duplicates at tile seams,
`model_type` is the `ModelType` registered as ``maskrcnn``.
"""
