"""Entry script of the frozen application: the same `main()` as the `tilescope` command."""

import multiprocessing
import sys

from tilescope.cli.main import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # worker processes (e.g. Dask) re-enter through here
    sys.exit(main())
