"""Feedback page: the review queue (image, question, answer, sources), resolve, turn an item into a knowledge edit
or an SFT example, and export the SFT dataset that `python -m finetune.sft` reads."""

import pandas as pd
import streamlit as st

from apps.admin import session

st.title("Feedback review")
api = session.client()

c1, c2, c3 = st.columns(3)
status = c1.selectbox("State", ["open", "resolved", "any"])
only_flagged = c2.checkbox("Flagged only")
rating = c3.selectbox("Rating", ["any", "down", "up"])
items = session.call(api.feedback, status=None if status == "any" else status, flagged=True if only_flagged else None,
                     rating=None if rating == "any" else rating) or []
st.caption(f"{len(items)} items")


def done(message: str) -> None:
    st.session_state["feedback_notice"] = message
    st.rerun()


if st.session_state.get("feedback_notice"):
    st.success(st.session_state.pop("feedback_notice"))

if items:
    st.dataframe(pd.DataFrame([{"id": i["id"], "rating": i["rating"] or "", "flagged": i["flagged"],
                                "reasons": ", ".join(i["reasons"]), "question": i["question"][:80],
                                "status": i["status"], "given": i["created_at"]} for i in items]),
                 width="stretch", hide_index=True)
    ids = [i["id"] for i in items]
    picked = st.selectbox("Review item", ids, format_func=lambda i: f"#{i}")
    item = session.call(api.feedback_detail, picked)
    if item:
        left, right = st.columns(2)
        with left:
            st.markdown(f"**Question** ({item['domain'] or 'no domain'})")
            st.write(item["question"])
            for sha in item["image_hashes"]:
                if item["images_stored"]:
                    data = session.call(api.image, sha)
                    if data:
                        st.image(data, caption=f"image {sha[:12]}", width=320)
                else:
                    st.caption(f"image {sha[:12]} (bytes not kept: database.store_images is off)")
            st.markdown("**Answer**")
            st.write(item["answer"])
            if item["citations"]:
                st.markdown("**Sources**")
                for c in item["citations"]:
                    st.markdown(f"[{c.get('number')}] {c.get('title')} — `{c.get('source')}` "
                                f"(score {c.get('score', 0):.2f})")
        with right:
            st.markdown(f"Rating **{item['rating'] or '—'}** · {'flagged' if item['flagged'] else 'not flagged'} · "
                        f"{item['status']}")
            if item["reasons"]:
                st.markdown("Reasons: " + ", ".join(item["reasons"]))
            if item["comment"]:
                st.markdown(f"Comment: {item['comment']}")
            if item["corrected_answer"]:
                st.markdown("Agent's correction:")
                st.info(item["corrected_answer"])
            new_state = "open" if item["status"] == "resolved" else "resolved"
            if st.button("Reopen" if new_state == "open" else "Mark resolved", key="resolve"):
                if session.call(api.set_feedback_status, item["id"], new_state):
                    done(f"Item #{item['id']} is {new_state}.")
            st.markdown("**Turn into an SFT example**")
            target = st.text_area("The answer the model should have given",
                                  item["corrected_answer"] or item["answer"], key=f"sft-{item['id']}", height=180)
            if st.button("Save as SFT example and resolve", key="sft"):
                if not target.strip():
                    st.error("The answer must not be empty.")
                else:
                    # The export takes the newest feedback per answer: the admin's correction, resolved with the item.
                    fixed = session.call(api.correct, item["request_id"], target,
                                         comment=f"SFT example from #{item['id']}")
                    if fixed and session.call(api.set_feedback_status, fixed["id"], "resolved") \
                            and session.call(api.set_feedback_status, item["id"], "resolved"):
                        done(f"Item #{item['id']} is an SFT example now (resolved).")
            if item["citations"]:
                st.markdown("**Fix the knowledge**")
                sources = {c["document_id"]: f"[{c.get('number')}] {c.get('title')}" for c in item["citations"]
                           if c.get("document_id")}
                doc = st.selectbox("Cited document", list(sources), format_func=sources.get)
                if st.button("Edit this document"):
                    st.session_state["knowledge_doc"] = doc
                    st.switch_page("pages/knowledge.py")

st.divider()
st.subheader("Export the SFT dataset")
st.caption("Corrected answers become targets; answers rated up are kept as they were. The zip holds train.jsonl "
           "(+ images/) for `python -m finetune.sft --train_file train.jsonl`.")
e1, e2 = st.columns(2)
export_status = e1.selectbox("Feedback to use", ["resolved", "open", "any"], key="export_status")
approved = e2.checkbox("Keep answers rated up", value=True)
if st.button("Build export"):
    data = session.call(api.sft_export, status=None if export_status == "any" else export_status, approved=approved)
    if data:
        st.session_state["sft_zip"] = data
if st.session_state.get("sft_zip"):
    st.download_button("Download feedback-sft.zip", st.session_state["sft_zip"], file_name="feedback-sft.zip",
                       mime="application/zip")

st.subheader("Export feedback as CSV")
st.caption("Every feedback item with its question and answer, for a spreadsheet. Cells that would run as "
           "formulas start with an apostrophe; phone numbers, e-mails and IDs are redacted.")
if st.button("Build CSV"):
    data = session.call(api.feedback_csv, status=None if export_status == "any" else export_status)
    if data:
        st.session_state["feedback_csv"] = data
if st.session_state.get("feedback_csv"):
    st.download_button("Download feedback.csv", st.session_state["feedback_csv"], file_name="feedback.csv",
                       mime="text/csv")
