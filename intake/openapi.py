"""``GET /api/v1/openapi.json``: the HTTP interface described by hand in ``openapi.yaml``.

Written by hand, so it says what a caller needs to know (why a field exists, what an error
means); a test keeps it honest by comparing its paths and methods with the real router.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

DOCUMENT = Path(__file__).with_name("openapi.yaml")


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    with DOCUMENT.open(encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    _catalog_paths(spec)
    return spec


def _catalog_paths(spec: dict[str, Any]) -> None:
    """The catalog's routes, written once in ``x-catalog-routes``, put under ``paths`` for each
    kind (a method already documented at a path, as ``GET /api/v1/checks``, is kept)."""
    template = spec.pop("x-catalog-routes", None)
    if not template:
        return
    for word in template["words"]:
        for part, path in (("collection", f"/api/v1/{word}"), ("item", f"/api/v1/{word}/{{key}}"),
                           ("restore", f"/api/v1/{word}/{{key}}/restore")):
            item = spec["paths"].setdefault(path, {})
            for method, operation in template[part].items():
                if method in item:
                    continue
                filled = json.loads(json.dumps(operation).replace("{word}", word))
                filled["operationId"] = f"{method}{part.title()}{word.title().replace('-', '')}"
                item[method] = filled


@lru_cache(maxsize=1)
def _document_json() -> str:
    return json.dumps(document(), ensure_ascii=False, indent=1)


async def serve(_request: web.Request) -> web.Response:
    return web.Response(text=_document_json(), content_type="application/json", headers={"Cache-Control": "max-age=300"})
