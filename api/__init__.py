"""MicroPulse REST API (FastAPI): `create_app()` in api.main; run with `make api`."""
