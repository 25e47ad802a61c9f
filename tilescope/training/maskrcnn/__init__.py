"""Train and export the bundled nuclei Mask R-CNN (`nuclei-maskrcnn`).

`python -m tilescope.training.maskrcnn train --data DIR --out DIR --minutes M`, e.g. on a GPU
machine with the repository and ../shared/data copied over::

    PYTHONPATH=. python3 -m tilescope.training.maskrcnn train --data ../shared/data/nuclei \
        --out runs/maskrcnn --seed 0 --minutes 3.5 --device cuda

(3.5 minutes on one H200: ~2,500 steps of batch 12, held-out F1@0.5 0.815, AJI 0.606).
OUT gets best.pt, history.json and the model folder OUT/nuclei-maskrcnn/ (ONNX, manifest,
model card) ready to copy to tilescope/resources/models/. `export --checkpoint` re-exports.
Imports only numpy, scipy, scikit-image, pillow, tifffile, torch, torchvision, onnx and
onnxruntime, so it runs on a bare GPU machine with the repository copied over. Modules that
need torch import it themselves; `data` and `metrics` are numpy-only.
"""
