"""Scale-out (issue 9): the load of bench/load.py against one `govern serve` host, then against two hosts on
different ports sharing one PostgreSQL database and one keyring folder (as two hosts behind a load balancer);
the audit log written by both must verify as one chain, and a retention purge and a key rotation started on both
hosts at once must do their work exactly once (the second start is refused).

    .venv/bin/python bench/scale_out.py [--duration 60] [--json]      # = bench/load.py --hosts 2

Every option of bench/load.py applies. The database (default test_bench_load) is WIPED first.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load  # noqa: E402

if __name__ == "__main__":
    sys.exit(load.main(["--hosts", "2", *sys.argv[1:]]))
