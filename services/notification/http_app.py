"""The notification service's small HTTP endpoint: survey links (GET /s/{token} -> 302 to the survey)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notification.surveys import Surveys

# Links are capabilities: keep them out of caches and out of the survey site's Referer header.
_PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=_PRIVATE_HEADERS)


def create_survey_app(sessions: async_sessionmaker[AsyncSession]) -> FastAPI:
    app = FastAPI(title="cxflow notification links", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/s/{token}")
    async def follow_survey_link(token: str) -> Response:
        async with sessions() as session:
            opened = await Surveys.open(session, token)
        if opened.status == "unknown":
            return _error(404, "not_found", "this survey link does not exist")
        if opened.status == "expired":
            return _error(410, "expired", "this survey link has expired")
        return RedirectResponse(opened.location, status_code=302, headers=_PRIVATE_HEADERS)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
