"""Overview page: knowledge per domain, health of the parts, answers and feedback over time, recent changes."""

import pandas as pd
import streamlit as st

from apps.admin import session

st.title("Overview")
api = session.client()

health = session.call(api.health) or []
cols = st.columns(max(len(health), 1))
for col, part in zip(cols, health, strict=False):
    label = {"backend": "Backend", "model_server": "Model server", "knowledge": "Knowledge / Chroma"}[part["name"]]
    col.metric(label, "OK" if part["ok"] else "DOWN")
    col.caption(part["detail"])

overview = session.call(api.overview)
if overview:
    st.subheader("Knowledge")
    rows = [{"domain": d["domain"], **{f"{k} documents": v for k, v in d["documents"].items()},
             "chunks": d["chunks"], "vectors": d["vectors"]} for d in overview["domains"]]
    if rows:
        table = pd.DataFrame(rows).set_index("domain")
        st.dataframe(table, width="stretch")
        st.bar_chart(table[[c for c in table.columns if c.endswith("documents")]])
    else:
        st.info("No knowledge domains (knowledge is off or still opening).")
    left, right = st.columns(2)
    left.metric("Open feedback", overview["open_feedback"])
    users = overview["users"]
    right.metric("Active accounts", f"{users.get('admin', 0)} admin · {users.get('agent', 0)} agent")

st.subheader("Answers and feedback")
days = st.slider("Days", 7, 90, 14)
activity = session.call(api.activity, days) or []
if activity:
    frame = pd.DataFrame(activity).set_index("day")
    st.line_chart(frame[["answers", "errors", "feedback"]])
    st.caption("Feedback rate (feedback items per answer)")
    st.line_chart(frame[["feedback_rate"]])

if overview:
    st.subheader("Recent changes")
    changes = overview["recent_changes"]
    if changes:
        st.dataframe(pd.DataFrame(changes)[["at", "actor", "action", "target"]], width="stretch", hide_index=True)
    else:
        st.caption("Nothing changed yet.")
