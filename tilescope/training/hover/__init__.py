"""HoVer-Net-style nuclei model `nuclei-he`: training, evaluation and ONNX export (torch).

``python -m tilescope.training.hover train --data ../shared/data/nuclei --out DIR --seed 0
--minutes N [--device cuda]`` trains (resuming from DIR/last.pt when it exists) and keeps
DIR/best.pt by held-out AJI; ``... export --checkpoint DIR/best.pt --out FOLDER`` writes the
ONNX model. The data pipeline is `tilescope.training.corpus`.
"""
