"""The web app: one page (static HTML, CSS, JS shipped in the package) and a small JSON API over the served
models. Everything heavy (decoding, the model) runs in worker threads, one prediction per model at a time.

    GET  /                                    the page
    GET  /api/models                          the models on offer
    POST /api/models/{id}/predict?name=FILE   body: the file's bytes → Prediction JSON + duration + spectrogram
    GET  /api/models/{id}/run                 a run's metrics, scored clips, mistakes and corrections
    GET  /api/models/{id}/clips/{row}/audio.wav | spectrogram.png    one clip, by manifest row number
    POST /api/models/{id}/clips/{row}/mark    JSON {"action": relabel|exclude|clear, "label": X}
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware

from earmark.errors import EarmarkError
from earmark.serve.models import Limits, ServedModel, TooLong, classify_file, display_name, upload_suffix
from earmark.serve.runview import RunView, UnknownClip

DRAIN_BYTES = 2**30  # the most of a refused upload read (and dropped) so that its sender hears why
STATIC = {"page.js": "text/javascript", "page.css": "text/css"}
SECURITY_HEADERS = {
    # Nothing from elsewhere: scripts and styles from this server, pictures and sound also from data:/blob: URLs.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
                               "object-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class NotFound(EarmarkError):
    """A model number the server does not have."""


def create_app(models: Sequence[ServedModel], limits: Limits | None = None, temp_root: Path | None = None,
               allowed_hosts: Sequence[str] = ("127.0.0.1", "localhost")) -> FastAPI:
    """The ASGI app serving `models`. Uploads go to a private temporary folder under `temp_root` (the system's
    by default), removed when the answer is made; Host headers outside `allowed_hosts` are refused (a page
    elsewhere cannot reach this server through DNS rebinding)."""
    app = FastAPI(title="earmark serve", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(EarmarkError)
    async def user_error(request: Request, exc: EarmarkError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFound | UnknownClip) else 413 if isinstance(exc, TooLong) else 400
        return JSONResponse({"error": str(exc)}, status_code=status)

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(_asset("page.html"))

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:  # a fixed list: the name never reaches the file system
            raise NotFound(f"no file {name[:40]!r}")
        return Response(_asset(name), media_type=STATIC[name])

    _add_try_routes(app, models, limits or Limits(), temp_root)
    _add_run_routes(app, models)
    return app


def _model(models: Sequence[ServedModel], model_id: int) -> ServedModel:
    if not 0 <= model_id < len(models):
        raise NotFound(f"no model {model_id} (this server has {len(models)})")
    return models[model_id]


def _add_try_routes(app: FastAPI, models: Sequence[ServedModel], limits: Limits, temp_root: Path | None) -> None:
    """The models on offer, and classifying an upload."""

    @app.get("/api/models")
    def list_models() -> dict[str, Any]:
        return {"models": [m.describe() for m in models], "limits": {
            "max_upload_mb": limits.max_upload_bytes / 2**20, "max_duration_s": limits.max_duration_s}}

    @app.post("/api/models/{model_id}/predict")
    async def predict(model_id: int, request: Request, name: str = "upload") -> dict[str, Any]:
        served, shown = _model(models, model_id), display_name(name)
        folder = Path(tempfile.mkdtemp(prefix="earmark-serve-", dir=temp_root))  # mode 0700: private
        try:
            path = folder / f"upload{upload_suffix(shown)}"
            await _receive(request, path, limits, shown)
            return await run_in_threadpool(classify_file, served, path, shown, limits)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _add_run_routes(app: FastAPI, models: Sequence[ServedModel]) -> None:
    """Looking inside a run: its summary, its clips by manifest row, and marking them."""

    def run(model_id: int) -> RunView:
        view = _model(models, model_id).run
        if view is None:
            raise NotFound(f"model {model_id} is not a run folder: nothing to look inside")
        return view

    @app.get("/api/models/{model_id}/run")
    def run_summary(model_id: int) -> dict[str, Any]:
        return run(model_id).summary()

    @app.get("/api/models/{model_id}/clips/{row}/audio.wav")
    def clip_audio(model_id: int, row: int) -> Response:
        return Response(run(model_id).clip_wav(row), media_type="audio/wav")

    @app.get("/api/models/{model_id}/clips/{row}/spectrogram.png")
    def clip_picture(model_id: int, row: int) -> Response:
        return Response(run(model_id).clip_png(row), media_type="image/png")

    @app.post("/api/models/{model_id}/clips/{row}/mark")
    async def clip_mark(model_id: int, row: int, request: Request) -> dict[str, Any]:
        view = run(model_id)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            # JSON only: a form on another site cannot send it without the browser asking this server first
            raise EarmarkError("send the mark as JSON (Content-Type: application/json)")
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise EarmarkError('expected a JSON object {"action": ..., "label": ...}')
        action, label = str(body.get("action", "")), str(body.get("label", ""))
        return {"corrections": await run_in_threadpool(view.mark, row, action, label)}


async def _receive(request: Request, path: Path, limits: Limits, name: str) -> None:
    """Write the request body to `path`; past the size limit, stop writing and refuse it.

    The rest of a refused body is read and dropped (up to DRAIN_BYTES) before the answer goes out: a client
    still sending would otherwise see a reset connection instead of the one-line reason.
    """
    too_big = TooLong(f"{name}: larger than the {limits.max_upload_bytes / 2**20:g} MB this server accepts "
                      "(earmark serve --max-upload-mb N)")
    declared = request.headers.get("content-length", "")
    received, refused = 0, declared.isdigit() and int(declared) > limits.max_upload_bytes
    with path.open("wb") as handle:
        async for chunk in request.stream():
            received += len(chunk)
            refused = refused or received > limits.max_upload_bytes
            if not refused:
                handle.write(chunk)
            elif received > limits.max_upload_bytes + DRAIN_BYTES:
                break
    if refused:
        raise too_big


def _asset(name: str) -> bytes:
    return (resources.files("earmark.serve") / "static" / name).read_bytes()
