"""The HTTP API on a team server: ``python -m core serve --team [--model NAME]``.

Every request carries a person's token (core/api_tokens.py; 401 without one, or with one that is
unknown or revoked). ``?model=NAME`` (default: ``--model``) is resolved in the token holder's
workspace by the one resolver, :meth:`core.workspace.Workspace.resolve_model`: a plain name is
their own model, ``team:NAME`` the team's; another person's workspace is refused (403) and a name
their workspace lacks is 404, saying whose workspace was searched. Routes, limits and answers are
core/serve.py's. A model is loaded on its first request and again when its folder changes on disk
(a retrain or a rollback replaces it); at most ``max_models`` stay loaded.
"""

from __future__ import annotations

import os
from typing import Any

from .api_tokens import TokenBook
from .models.folder import is_model_folder
from .serve import ApiLimits, ModelCache, Served, bearer_token, build_api, unauthorized
from .workspace import TeamSettings, WorkspaceError

MAX_MODELS = 4  # loaded at once: a MiniLM model holds ~100 MB of weights in memory


def create_team_app(settings: TeamSettings, *, model: str | None = None, limits: ApiLimits | None = None,
                    max_models: int = MAX_MODELS) -> Any:
    """The API of a team server (module doc). ``model``: the model name used when a request names none."""
    from fastapi import HTTPException

    limits = limits or ApiLimits()
    book = TokenBook(settings)
    cache = ModelCache(limits, max_models)

    def authorize(request: Any) -> Any:
        holder = book.holder(bearer_token(request))
        if holder is None:
            return unauthorized()
        request.state.holder = holder
        return None

    def served_for(request: Any, name: str | None) -> Served:
        holder = request.state.holder
        name = name or model
        if not name:
            raise HTTPException(status_code=422, detail="Name a model: ?model=NAME (yours) or ?model=team:NAME.")
        try:
            folder = book.workspace(holder).resolve_model(name)
        except WorkspaceError as exc:
            raise HTTPException(status_code=403, detail=str(exc)) from None
        if not is_model_folder(folder):
            raise HTTPException(status_code=404, detail=f"No model {name!r} in the workspace of {holder.person or holder.workspace}; "
                                "a token reaches only its holder's own models and the team's (team:NAME).")
        return cache.get(folder)

    return build_api(limits, authorize, served_for, cache.all,
                     "Predictions of the models in the token holder's workspace (?model=NAME).")


def serve_team(settings: TeamSettings, *, model: str | None = None, host: str = "127.0.0.1", port: int = 8000,
               limits: ApiLimits | None = None) -> None:
    """Run the team API until interrupted (uvicorn, one process)."""
    import uvicorn

    # As the app and the worker do: what this process writes (the scoring history) is owner-only.
    os.umask(0o077)
    uvicorn.run(create_team_app(settings, model=model, limits=limits), host=host, port=port, log_level="info")
