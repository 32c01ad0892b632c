"""Per-browser-session state of the console: backend URL, login token, confirmations, and error display."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from apps.admin.client import AdminClient, BackendError

T = TypeVar("T")


@st.cache_resource
def _configured_backend_url() -> str:
    from backend.settings import load_settings

    return load_settings().backend_url  # VISIONDESK_CONFIG_FILE and VISIONDESK_* as `python -m apps.admin` set them


def backend_url() -> str:
    """The URL set for this session (tests set it), else the one from the settings."""
    if not st.session_state.get("backend_url"):
        st.session_state["backend_url"] = _configured_backend_url()
    return st.session_state["backend_url"]


@st.cache_resource
def _configured_reports_dir() -> str:
    from backend.settings import load_settings

    return str(load_settings().reports_dir)


def reports_dir() -> str:
    """Where `python -m eval.ab` reports are listed from (tests set it per session)."""
    if not st.session_state.get("reports_dir"):
        st.session_state["reports_dir"] = _configured_reports_dir()
    return st.session_state["reports_dir"]


def client() -> AdminClient:
    return AdminClient(backend_url(), st.session_state.get("token"))


def logged_in() -> bool:
    return bool(st.session_state.get("token"))


def log_out() -> None:
    for key in ("token", "username"):
        st.session_state.pop(key, None)


def call(fn: Callable[..., T], *args, **kwargs) -> T | None:
    """Run one backend call; on failure show the backend's message and return None. An expired login logs out."""
    try:
        return fn(*args, **kwargs)
    except BackendError as exc:
        if exc.status == 401:
            log_out()
            st.error(f"Your login has ended ({exc}); log in again.")
            st.stop()
        st.error(str(exc))
        return None


def confirm(key: str, question: str) -> bool:
    """Two-step confirmation for destructive actions: True once the admin clicked the confirm button.

    Call it after the action button set `st.session_state[key] = True`.
    """
    if not st.session_state.get(key):
        return False
    st.warning(question)
    left, right = st.columns(2)
    if left.button("Yes, do it", key=f"{key}-yes", type="primary"):
        st.session_state[key] = False
        return True
    if right.button("Cancel", key=f"{key}-no"):
        st.session_state[key] = False
        st.rerun()
    return False


def domain_picker(label: str = "Domain", key: str = "domain") -> str | None:
    """A domain select box fed by the backend's domains."""
    domains = call(client().domains) or []
    names = [d["domain"] for d in domains]
    if not names:
        st.info("No knowledge domains: the knowledge layer is off or still opening.")
        return None
    return st.selectbox(label, names, key=key)
