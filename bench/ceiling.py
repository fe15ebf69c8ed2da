"""The ceiling of `catalog.py`: a plain FastAPI endpoint that answers recorded REST catalog pages from memory.

The same bytes as rest-compat's `GET /courses` for each page, with nothing behind them: what one Python
worker (uvicorn on uvloop and httptools) can answer, driven by the same load loop as the real targets.
`catalog.py` records the pages into a JSON file (`after` cursor, "" for the first page -> body) and runs

    python -m uvicorn bench.ceiling:app --loop uvloop --http httptools --workers 1

with `BENCH_CEILING_PAGES` naming that file, in a process of its own. Not a test: pytest does not collect it.
"""

import json
import os
from pathlib import Path

from fastapi import FastAPI, Response

PAGES: dict[str, bytes] = {
    after: body.encode()
    for after, body in json.loads(Path(os.environ["BENCH_CEILING_PAGES"]).read_text()).items()
}

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/courses")
async def courses(after: str = "") -> Response:
    return Response(PAGES[after], media_type="application/json")
