"""``appwatch worker`` with the OpenAPI routes (``appwatch.worker.openapi.OpenApi``) installed,
for tests that need them served while ``serve()`` does not install them itself; once it
does, this is the plain worker.

    python -m tests.integration.openapi_worker worker
"""

from __future__ import annotations

import appwatch.worker
from appwatch.worker.openapi import PATHS, OpenApi

_serve = appwatch.worker.serve


def serve_with_openapi(app, *args, **kwargs) -> None:
    _serve(app, *args, **kwargs)
    if PATHS[0] not in app.web.views:
        OpenApi().install(app)


appwatch.worker.serve = serve_with_openapi

if __name__ == "__main__":
    from appwatch.cli import main

    main()
