"""The OpenAPI document and its Swagger UI, behind a token like every route but /health.

/docs embeds the document in the page, so the one authenticated request for the page is
enough (a browser does not send the token with the page's own fetches); the Authorize button
then takes the token for "Try it out".
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from api.auth import require
from appliance.security.roles import Role

router = APIRouter(dependencies=[Depends(require(Role.VIEWER))], include_in_schema=False)

SWAGGER = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"


@router.get("/openapi.json")
def openapi(request: Request) -> JSONResponse:
    schema: dict[str, Any] = request.app.openapi()
    return JSONResponse(schema)


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    spec = json.dumps(request.app.openapi()).replace("</", "<\\/")
    title = request.app.title
    return HTMLResponse(
        f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="{SWAGGER}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{SWAGGER}/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{spec: {spec}, dom_id: "#swagger-ui", persistAuthorization: false}});
</script></body></html>"""
    )
