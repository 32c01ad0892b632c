"""Retrieval test page: a question and an optional image → OCR text and hits, on chat's own retrieval path."""

from datetime import datetime

import pandas as pd
import streamlit as st

from apps.admin import session

st.title("Retrieval test")
st.caption("Runs what chat runs: OCR of the image, question + image text as the query, the domain profile's "
           "top-k, threshold and tag filter.")
api = session.client()
domain = session.domain_picker()
if domain is None:
    st.stop()
question = st.text_area("Question", key="retrieval_question")
image = st.file_uploader("Image (optional)", type=["png", "jpg", "jpeg", "webp", "bmp", "gif"])
c1, c2, c3 = st.columns(3)
top_k = c1.number_input("Hits (0: the profile's)", 0, 50, 0)
override = c2.checkbox("Override the similarity threshold")
threshold = c3.number_input("Threshold", -1.0, 1.0, 0.5, 0.05, disabled=not override)

if st.button("Search", type="primary"):
    if not question.strip():
        st.error("Enter a question to search for.")
    else:
        result = session.call(api.retrieval_test, domain, question, image=image.getvalue() if image else None,
                              image_type=image.type if image else "image/png", top_k=int(top_k) or None,
                              score_threshold=threshold if override else None)
        if result:
            history = st.session_state.setdefault("retrieval_history", [])
            history.insert(0, {"at": datetime.now().strftime("%H:%M:%S"), "domain": domain, "question": question,
                               "image": image.name if image else "", "result": result})
            st.session_state["retrieval_shown"] = 0

history = st.session_state.get("retrieval_history", [])
shown = st.session_state.get("retrieval_shown")
if history and shown is not None and shown < len(history):
    entry = history[shown]
    result = entry["result"]
    st.subheader(f"{len(result['hits'])} hits")
    st.caption(f"top_k {result['top_k']} · threshold {result['score_threshold']} · "
               f"tags {', '.join(result['tags']) or 'any'}")
    if result["ocr_text"]:
        st.markdown("**Text read from the image**")
        st.code(result["ocr_text"], language=None)
    with st.expander("Query sent to retrieval"):
        st.code(result["query"], language=None)
    for n, hit in enumerate(result["hits"], 1):
        st.markdown(f"**[{n}] {hit['title']}** — `{hit['source']}` · score {hit['score']:.3f} · "
                    f"fused {hit['fused']:.4f}")
        st.text(hit["text"][:1200])
    if not result["hits"]:
        st.warning("No hits: chat would answer that the knowledge base has nothing on this.")

if history:
    st.subheader("History of tests")
    st.dataframe(pd.DataFrame([{"at": h["at"], "domain": h["domain"], "question": h["question"], "image": h["image"],
                                "hits": len(h["result"]["hits"]),
                                "top source": h["result"]["hits"][0]["source"] if h["result"]["hits"] else ""}
                               for h in history]), width="stretch", hide_index=True)
    pick = st.selectbox("Show test", range(len(history)),
                        format_func=lambda i: f"{history[i]['at']} {history[i]['question'][:60]}")
    if st.button("Show"):
        st.session_state["retrieval_shown"] = pick
        st.rerun()
