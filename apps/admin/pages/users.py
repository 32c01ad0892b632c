"""Users page: create agents and admins, change roles, reset passwords, disable and re-enable accounts."""

import pandas as pd
import streamlit as st

from apps.admin import session

st.title("Users")
api = session.client()
if st.session_state.get("users_notice"):
    st.success(st.session_state.pop("users_notice"))


def done(message: str) -> None:
    st.session_state["users_notice"] = message
    st.rerun()


users = session.call(api.users) or []
if users:
    st.dataframe(pd.DataFrame(users), width="stretch", hide_index=True)

st.subheader("New account")
with st.form("new-user", clear_on_submit=True):
    c1, c2, c3 = st.columns(3)
    username = c1.text_input("Username")
    password = c2.text_input("Password (8+ characters)", type="password")
    role = c3.selectbox("Role", ["agent", "admin"])
    create = st.form_submit_button("Create account", type="primary")
if create:
    if not username.strip():
        st.error("Enter a username.")
    elif len(password) < 8:
        st.error("The password needs at least 8 characters.")
    elif session.call(api.create_user, username.strip(), password, role):
        done(f"Created {role} {username.strip()}.")

if users:
    st.subheader("Change an account")
    names = [u["username"] for u in users]
    name = st.selectbox("Account", names)
    user = next(u for u in users if u["username"] == name)
    me = name == st.session_state.get("username")
    c1, c2 = st.columns(2)
    new_password = c1.text_input("New password", type="password", key=f"pw-{name}")
    if c1.button("Reset password"):
        if len(new_password) < 8:
            st.error("The new password needs at least 8 characters.")
        elif session.call(api.update_user, name, password=new_password):
            done(f"Password of {name} reset; their open logins ended.")
    other = "agent" if user["role"] == "admin" else "admin"
    if c2.button(f"Make {other}", disabled=me, help="You cannot change your own role here." if me else None):
        if session.call(api.update_user, name, role=other):
            done(f"{name} is an {other} now.")
    if user["disabled"]:
        if c2.button("Re-enable account"):
            if session.call(api.update_user, name, disabled=False):
                done(f"{name} can log in again.")
    elif c2.button("Disable account", disabled=me, help="You cannot disable yourself." if me else None):
        st.session_state["confirm-disable"] = True
        st.session_state["disable-who"] = name
    if st.session_state.get("disable-who") == name and session.confirm(
            "confirm-disable", f"Disable {name}? Their logins and API keys stop working."):
        if session.call(api.update_user, name, disabled=True):
            done(f"{name} is disabled.")
