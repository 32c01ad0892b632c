"""Entry point of the admin console (`streamlit run apps/admin/app.py`): login gate, then the page navigation."""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run` puts this folder on sys.path, not the repository root that `apps` and `backend` live in.
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from apps.admin import session  # noqa: E402
from apps.admin.client import AdminClient, BackendError  # noqa: E402

st.set_page_config(page_title="VisionDesk admin", page_icon=":material/admin_panel_settings:", layout="wide")


def login_page() -> None:
    st.title("VisionDesk admin console")
    st.caption(f"Backend: {session.backend_url()}")
    with st.form("login"):
        username = st.text_input("Username")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in", type="primary")
    if not submitted:
        return
    if not username or not password:
        st.error("Enter a username and a password.")
        return
    try:
        reply = AdminClient(session.backend_url()).login(username, password)
    except BackendError as exc:
        st.error(f"Login failed: {exc}")
        return
    if reply["user"]["role"] != "admin":
        # An agent's token must not linger in this console: end that login at once.
        try:
            AdminClient(session.backend_url(), reply["token"]).logout()
        except BackendError:
            pass
        st.error(f"This console is for admins; {username} is an {reply['user']['role']}. "
                 "Agents use the chat app.")
        return
    st.session_state["token"] = reply["token"]
    st.session_state["username"] = reply["user"]["username"]
    st.rerun()


def logout_page() -> None:
    try:
        session.client().logout()
    except BackendError:
        pass  # the login may have expired already; forgetting it here is what matters
    session.log_out()
    st.rerun()


if not session.logged_in():
    st.navigation([st.Page(login_page, title="Log in", icon=":material/login:")]).run()
else:
    st.sidebar.caption(f"Logged in as **{st.session_state.get('username', '?')}**")
    pages = {
        "": [st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True)],
        "Knowledge": [
            st.Page("pages/knowledge.py", title="Documents", icon=":material/library_books:"),
            st.Page("pages/upload.py", title="Upload", icon=":material/upload_file:"),
            st.Page("pages/retrieval.py", title="Retrieval test", icon=":material/search:"),
            st.Page("pages/audit.py", title="Audit log", icon=":material/history:"),
        ],
        "Quality": [st.Page("pages/feedback.py", title="Feedback", icon=":material/rate_review:"),
                    st.Page("pages/experiments.py", title="Experiments", icon=":material/science:")],
        "Admin": [
            st.Page("pages/users.py", title="Users", icon=":material/group:"),
            st.Page("pages/models.py", title="Models", icon=":material/model_training:"),
            st.Page(logout_page, title="Log out", icon=":material/logout:"),
        ],
    }
    st.navigation(pages, expanded=True).run()
