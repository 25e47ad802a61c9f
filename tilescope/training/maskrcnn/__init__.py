"""Train and export the bundled nuclei Mask R-CNN (`nuclei-maskrcnn`).

`python -m tilescope.training.maskrcnn train --data DIR --out DIR --minutes M`.
Imports only numpy, scipy, scikit-image, pillow, tifffile, torch, torchvision, onnx and
onnxruntime, so it runs on a bare GPU machine with the repository copied over. Modules that
need torch import it themselves; `data` and `metrics` are numpy-only.
"""
