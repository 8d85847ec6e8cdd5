"""troth's HTTP API (FastAPI) under ``/api/v1``: the Python API's paths for applications
(API keys) and the console (session cookie + CSRF header). ``troth.api.router.build_router``
assembles it; errors become problem documents in :mod:`troth.api.problems` only."""
