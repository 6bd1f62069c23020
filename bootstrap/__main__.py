"""The account bootstrap (see bootstrap/program.py): `pulumi up` in this directory."""

import sys
from pathlib import Path

# Pulumi runs this file with bootstrap/ on sys.path. With the repository root there too,
# `bootstrap.*` imports the same way here as in the tests.
REPOSITORY_ROOT = str(Path(__file__).resolve().parent.parent)
if REPOSITORY_ROOT not in sys.path:
    sys.path.insert(0, REPOSITORY_ROOT)

from bootstrap.program import main  # noqa: E402 - importable once the root is on sys.path

main()
