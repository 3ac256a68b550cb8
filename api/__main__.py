"""`python -m api [--host 127.0.0.1] [--port 8000]`: serve the REST API with uvicorn (one
process: the DuckDB warehouse allows one writer process)."""
from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("MICROPULSE_API_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int,
                        default=int(os.environ.get("MICROPULSE_API_PORT", "8000")))
    args = parser.parse_args(argv)
    uvicorn.run("api.main:app", host=args.host, port=args.port, workers=1)


if __name__ == "__main__":
    main()
