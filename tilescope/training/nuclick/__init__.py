"""Training, evaluation, ONNX export and weight conversion for the NuClick click model.

Run ``python -m tilescope.training.nuclick train --data ../shared/data/nuclei --out DIR``.
Imports only numpy, scipy, scikit-image, pillow, tifffile, torch, onnx and onnxruntime, so
it runs on a bare GPU machine without tilescope's runtime dependencies.
"""
