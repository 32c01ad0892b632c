"""Audit log page: every knowledge change and admin action, filterable."""

import pandas as pd
import streamlit as st

from apps.admin import session

st.title("Audit log")
c1, c2, c3, c4 = st.columns(4)
target = c1.text_input("Target (document id, username …)", value=st.session_state.get("audit_target", ""))
actor = c2.text_input("Actor")
action = c3.text_input("Action starts with", placeholder="chunk.  /  document.  /  PATCH")
limit = c4.number_input("Most entries", 10, 5000, 200)
entries = session.call(session.client().audit, target=target, actor=actor, action=action, limit=int(limit)) or []
if entries:
    frame = pd.DataFrame(entries)
    frame["detail"] = frame["detail"].map(lambda d: ", ".join(f"{k}={v}" for k, v in d.items()))
    st.dataframe(frame[["at", "actor", "action", "target", "detail"]], width="stretch", hide_index=True)
else:
    st.info("No audit entries match.")
