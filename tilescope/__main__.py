"""`python -m tilescope` is the same as the `tilescope` command."""

from tilescope.cli.main import main

raise SystemExit(main())
