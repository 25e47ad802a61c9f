"""Choosing backends: the first opens in a fresh process may come from several threads at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import tifffile


def test_concurrent_first_opens_see_every_backend(tmp_path: Path) -> None:
    path = tmp_path / "fluo.ome.tif"
    pixels = np.arange(4 * 64 * 64, dtype=np.uint16).reshape(4, 64, 64)
    tifffile.imwrite(
        path, pixels, metadata={"axes": "CYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}, ome=True
    )
    code = textwrap.dedent(
        f"""
        import threading
        from tilescope.engine.slide import open_slide
        start = threading.Barrier(8)
        names = []
        def worker():
            start.wait()
            with open_slide({str(path)!r}) as slide:
                names.append((slide.backend_name, slide.metadata.channels))
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(sorted(set(names)))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('tifffile', 4)]"
