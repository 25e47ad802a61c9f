"""Train and export the bundled nuclei Mask R-CNN (`nuclei-maskrcnn`) on the shared corpus.

`python -m tilescope.training.maskrcnn train --data ../shared/data/nuclei --out OUT`
(commands for a GPU and for the CPU in `__main__`'s docstring). `data` (numpy only) draws
the crops from `tilescope.training.corpus`; `train` is the resumable, wall-clock-budgeted
loop; `evaluate` scores the held-out split during training; `export` and `card` write the
model folder, whose figures `card.runtime_figures` measures through tilescope's runtime.
Modules other than `data` need torch and torchvision (the `train` extra).
"""
