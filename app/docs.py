"""Swagger UI at /docs from same-origin files only, so its CSP needs no CDN and no 'unsafe-inline'.

FastAPI's built-in page loads Swagger UI from a CDN and starts it with an inline <script>; either would need
the CSP relaxed. Here the assets come from the `fastapi-offline` package and the start-up code is a file.
"""

from __future__ import annotations

import json
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS_DIRECTORY = Path(fastapi_offline.__file__).parent / "static"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - API docs</title>
<link rel="stylesheet" href="{docs_url}/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{docs_url}/assets/swagger-ui-bundle.js"></script>
<script src="{docs_url}/init.js"></script>
</body>
</html>
"""

_INIT = """window.ui = SwaggerUIBundle({{
  url: {openapi_url},
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
}});
"""


def add_docs(app: FastAPI, *, docs_url: str = "/docs", openapi_url: str = "/openapi.json") -> None:
    page = _PAGE.format(title=app.title, docs_url=docs_url)
    init_script = _INIT.format(openapi_url=json.dumps(openapi_url))

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get(f"{docs_url}/init.js", include_in_schema=False)
    async def swagger_init() -> Response:
        return Response(init_script, media_type="text/javascript")

    app.mount(f"{docs_url}/assets", StaticFiles(directory=ASSETS_DIRECTORY), name="docs-assets")
