"""Running ONNX models over slides: sessions, tiling, tissue detection, stitching, progress.

No Qt here. The engine defines the contract a model type fulfils (`types.TileModel`); the
model types themselves live in `tilescope.plugins`, which depends on the engine, not the
reverse.
"""
