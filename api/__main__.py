"""`python -m api [--host 127.0.0.1] [--port 8000]`: serve the REST API with uvicorn, as one
process: the DuckDB warehouse allows one writer process, so the API refuses to start as one
of several workers (see api.runtime). One process serves requests concurrently on its
threads; to serve the app and the API on one warehouse, use `make run-with-api`
(MICROPULSE_API_IN_APP=1)."""
from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("MICROPULSE_API_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int,
                        default=int(os.environ.get("MICROPULSE_API_PORT", "8000")))
    args = parser.parse_args(argv)
    workers = os.environ.get("WEB_CONCURRENCY", "").strip()
    if workers and workers != "1":
        print(f"python -m api: WEB_CONCURRENCY={workers} is ignored: the API runs as one "
              "process (the DuckDB warehouse allows one writer process).", file=sys.stderr)
    uvicorn.run("api.main:app", host=args.host, port=args.port, workers=1)


if __name__ == "__main__":
    main()
