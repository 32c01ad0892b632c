"""AdminClient: the admin console's typed calls to the backend over HTTP; errors carry the backend's message."""

from __future__ import annotations

import base64
import json

import httpx


class BackendError(RuntimeError):
    """The backend refused or could not be reached; `str()` is the message to show the admin."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


def _raise_for(resp: httpx.Response) -> None:
    if resp.status_code < 400:
        return
    try:
        message = resp.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = resp.text[:500] or resp.reason_phrase
    raise BackendError(f"{message} (HTTP {resp.status_code})", resp.status_code)


class AdminClient:
    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 300):
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise BackendError(f"the backend at {self.base_url} is unreachable: {exc}") from None
        _raise_for(resp)
        return resp

    def _json(self, method: str, path: str, **kwargs):
        resp = self._call(method, path, **kwargs)
        return resp.json() if resp.content else None

    # ---- accounts --------------------------------------------------------------------------------------------
    def login(self, username: str, password: str) -> dict:
        return self._json("POST", "/v1/auth/login", json={"username": username, "password": password})

    def logout(self) -> None:
        self._call("POST", "/v1/auth/logout")

    def me(self) -> dict:
        return self._json("GET", "/v1/auth/me")

    def users(self) -> list[dict]:
        return self._json("GET", "/v1/users")

    def create_user(self, username: str, password: str, role: str) -> dict:
        return self._json("POST", "/v1/users", json={"username": username, "password": password, "role": role})

    def update_user(self, username: str, **changes) -> dict:
        return self._json("PATCH", f"/v1/users/{username}", json={k: v for k, v in changes.items() if v is not None})

    # ---- knowledge -------------------------------------------------------------------------------------------
    def domains(self) -> list[dict]:
        return self._json("GET", "/v1/domains")

    def documents(self, domain: str, *, q: str = "", status: str | None = None, tag: str = "") -> list[dict]:
        params = {k: v for k, v in (("q", q), ("status", status), ("tag", tag)) if v}
        return self._json("GET", f"/v1/knowledge/{domain}/documents", params=params)

    def document(self, doc_id: str) -> dict:
        return self._json("GET", f"/v1/knowledge/documents/{doc_id}")

    def update_document(self, doc_id: str, **changes) -> dict:
        return self._json("PATCH", f"/v1/knowledge/documents/{doc_id}",
                          json={k: v for k, v in changes.items() if v is not None})

    def delete_document(self, doc_id: str) -> None:
        self._call("DELETE", f"/v1/knowledge/documents/{doc_id}")

    def update_chunk(self, chunk_id: str, *, text: str | None = None, keywords: list[str] | None = None,
                     enabled: bool | None = None) -> dict:
        body = {k: v for k, v in (("text", text), ("keywords", keywords), ("enabled", enabled)) if v is not None}
        return self._json("PATCH", f"/v1/knowledge/chunks/{chunk_id}", json=body)

    def merge_chunks(self, chunk_ids: list[str]) -> list[str]:
        return self._json("POST", "/v1/knowledge/chunks/merge", json={"chunk_ids": chunk_ids})["chunk_ids"]

    def split_chunk(self, chunk_id: str, at: int) -> list[str]:
        return self._json("POST", f"/v1/knowledge/chunks/{chunk_id}/split", json={"at": at})["chunk_ids"]

    def versions(self, doc_id: str) -> list[dict]:
        return self._json("GET", f"/v1/knowledge/documents/{doc_id}/versions")

    def restore(self, doc_id: str, version: int) -> dict:
        return self._json("POST", f"/v1/knowledge/documents/{doc_id}/versions/{version}/restore")

    def upload(self, domain: str, files: list[tuple[str, bytes]], *, dry_run: bool, chunking: str | None = None,
               tags: str = "", language: str | None = None) -> dict:
        data = {"dry_run": str(dry_run).lower(), "tags": tags}
        if chunking:
            data["chunking"] = chunking
        if language:
            data["language"] = language
        return self._json("POST", f"/v1/knowledge/{domain}/files", data=data,
                          files=[("files", (name, content)) for name, content in files])

    def retrieval_test(self, domain: str, query: str, *, image: bytes | None = None, image_type: str = "image/png",
                       top_k: int | None = None, score_threshold: float | None = None) -> dict:
        body = {"domain": domain, "query": query, "top_k": top_k, "score_threshold": score_threshold}
        if image is not None:
            body["image"] = f"data:{image_type};base64,{base64.b64encode(image).decode()}"
        return self._json("POST", "/v1/knowledge/retrieval-test", json=body)

    # ---- feedback --------------------------------------------------------------------------------------------
    def feedback(self, *, status: str | None = None, flagged: bool | None = None, rating: str | None = None,
                 limit: int = 200) -> list[dict]:
        params = {"limit": limit}
        params.update({k: (json.dumps(v) if isinstance(v, bool) else v)
                       for k, v in (("status", status), ("flagged", flagged), ("rating", rating)) if v is not None})
        return self._json("GET", "/v1/feedback", params=params)

    def feedback_detail(self, feedback_id: int) -> dict:
        return self._json("GET", f"/v1/admin/feedback/{feedback_id}")

    def set_feedback_status(self, feedback_id: int, status: str) -> dict:
        return self._json("PATCH", f"/v1/feedback/{feedback_id}", json={"status": status})

    def correct(self, request_id: str, corrected_answer: str, comment: str = "") -> dict:
        """An admin's correction: the newest feedback on an answer is what the SFT export uses."""
        return self._json("POST", "/v1/feedback", json={"request_id": request_id, "corrected_answer": corrected_answer,
                                                         "comment": comment or None})

    def image(self, sha: str) -> bytes:
        return self._call("GET", f"/v1/admin/images/{sha}").content

    def sft_export(self, *, status: str | None, approved: bool) -> bytes:
        return self._call("POST", "/v1/admin/sft-export", json={"status": status, "approved": approved}).content

    def feedback_csv(self, *, status: str | None = None) -> bytes:
        """The review queue as CSV (formula-looking cells neutralised, personal data redacted by the backend)."""
        params = {"status": status} if status else None
        return self._call("GET", "/v1/feedback/export.csv", params=params).content

    # ---- overview, audit, models ---------------------------------------------------------------------------
    def overview(self) -> dict:
        return self._json("GET", "/v1/admin/overview")

    def health(self) -> list[dict]:
        return self._json("GET", "/v1/admin/health")

    def activity(self, days: int = 14) -> list[dict]:
        return self._json("GET", "/v1/admin/activity", params={"days": days})

    def audit(self, *, target: str = "", actor: str = "", action: str = "", limit: int = 200) -> list[dict]:
        params = {k: v for k, v in (("target", target), ("actor", actor), ("action", action)) if v}
        return self._json("GET", "/v1/admin/audit", params={**params, "limit": limit})

    def models(self) -> list[dict]:
        return self._json("GET", "/v1/models")["data"]

    def model_server(self) -> dict:
        return self._json("GET", "/v1/admin/model-server")

    def load_adapter(self, name: str, path: str) -> dict:
        return self._json("POST", "/v1/admin/adapters/load", json={"name": name, "path": path})

    def unload_adapter(self, name: str) -> dict:
        return self._json("POST", "/v1/admin/adapters/unload", json={"name": name})

    # ---- online experiments --------------------------------------------------------------------------------
    def experiments(self) -> list[dict]:
        return self._json("GET", "/v1/experiments")

    def create_experiment(self, spec: dict) -> dict:
        return self._json("POST", "/v1/experiments", json=spec)

    def start_experiment(self, experiment_id: str) -> dict:
        return self._json("POST", f"/v1/experiments/{experiment_id}/start")

    def stop_experiment(self, experiment_id: str) -> dict:
        return self._json("POST", f"/v1/experiments/{experiment_id}/stop")

    def delete_experiment(self, experiment_id: str) -> None:
        self._call("DELETE", f"/v1/experiments/{experiment_id}")

    def experiment_results(self, experiment_id: str) -> dict:
        return self._json("GET", f"/v1/experiments/{experiment_id}/results")
