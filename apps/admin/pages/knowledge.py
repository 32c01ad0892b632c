"""Documents page: list, filter and search documents; chunks next to the source; edit, merge, split, enable,
disable; metadata and tags; archive and delete; version history with diffs and one-click rollback."""

import json

import pandas as pd
import streamlit as st

from apps.admin import session
from apps.admin.diffs import source_text, version_diff

st.title("Knowledge documents")
api = session.client()
if st.session_state.get("knowledge_notice"):
    st.success(st.session_state.pop("knowledge_notice"))

domain = session.domain_picker()
if domain is None:
    st.stop()
c1, c2, c3 = st.columns([3, 1, 1])
q = c1.text_input("Search title or source")
status = c2.selectbox("Status", ["any", "active", "disabled", "archived"])
tag = c3.text_input("Tag")
docs = session.call(api.documents, domain, q=q, status=None if status == "any" else status, tag=tag) or []
st.caption(f"{len(docs)} documents")
if docs:
    st.dataframe(pd.DataFrame(docs)[["title", "source", "status", "tags", "version", "updated_by", "updated_at"]],
                 width="stretch", hide_index=True, height=min(400, 38 + 35 * len(docs)))
if not docs:
    st.stop()

labels = {d["id"]: f"{d['title']} — {d['source']}" for d in docs}
wanted = st.session_state.get("knowledge_doc")
ids = list(labels)
doc_id = st.selectbox("Document", ids, format_func=labels.get, index=ids.index(wanted) if wanted in ids else 0)
st.session_state["knowledge_doc"] = doc_id
doc = session.call(api.document, doc_id)
if doc is None:
    st.stop()


def done(message: str) -> None:
    st.session_state["knowledge_notice"] = message
    st.rerun()


st.subheader(doc["title"])
st.caption(f"{doc['source']} · {doc['status']} · version {doc['version']} · {doc['chunking']} chunking · "
           f"{len(doc['chunks'])} chunks · updated by {doc['updated_by']}")
chunks_tab, meta_tab, versions_tab, audit_tab = st.tabs(["Chunks", "Metadata and status", "Versions", "Audit"])

with chunks_tab:
    versions = session.call(api.versions, doc_id) or []
    ingests = [v for v in versions if v["note"] == "ingest"]
    source, chunks_col = st.columns(2)
    with source:
        st.markdown("**Source** (text as extracted at the last ingest)")
        st.text_area("Source text", source_text(ingests[-1]["snapshot"]) if ingests else "", height=600,
                     disabled=True, label_visibility="collapsed")
    with chunks_col:
        st.markdown("**Chunks**")
        by_id = {c["id"]: c for c in doc["chunks"]}
        picked = st.multiselect("Merge neighbouring chunks", list(by_id),
                                format_func=lambda cid: f"#{by_id[cid]['position']} {by_id[cid]['text'][:40]}")
        if st.button("Merge selected", disabled=len(picked) < 2):
            if session.call(api.merge_chunks, picked):
                done(f"Merged {len(picked)} chunks.")
        for c in doc["chunks"]:
            k = f"{c['id']}-{doc['version']}"  # fresh widgets after every change, so they show the stored text
            flags = ("" if c["enabled"] else " · disabled") + (" · edited" if c["edited"] else "")
            with st.expander(f"#{c['position']} {c['key'] or c['text'][:60]}{flags}"):
                text = st.text_area("Text", c["text"], key=f"text-{k}", height=160)
                kw = st.text_input("Keywords (comma-separated)", ", ".join(c["keywords"]), key=f"kw-{k}")
                b1, b2 = st.columns(2)
                if b1.button("Save chunk", key=f"save-{k}", type="primary"):
                    keywords = [k.strip() for k in kw.split(",") if k.strip()]
                    changed_kw = keywords != c["keywords"]
                    if text.strip() == c["text"].strip() and not changed_kw:
                        st.info("Nothing changed.")
                    elif session.call(api.update_chunk, c["id"], text=text if text != c["text"] else None,
                                      keywords=keywords if changed_kw else None):
                        done(f"Saved chunk #{c['position']}.")
                if b2.button("Disable" if c["enabled"] else "Enable", key=f"toggle-{k}"):
                    if session.call(api.update_chunk, c["id"], enabled=not c["enabled"]):
                        done(f"Chunk #{c['position']} {'disabled' if c['enabled'] else 'enabled'}.")
                s1, s2 = st.columns([2, 1])
                at = s1.number_input("Split at character", 1, max(1, len(c["text"]) - 1),
                                     min(max(1, len(c["text"]) // 2), max(1, len(c["text"]) - 1)),
                                     key=f"at-{k}")
                if s2.button("Split", key=f"split-{k}"):
                    if session.call(api.split_chunk, c["id"], int(at)):
                        done(f"Split chunk #{c['position']}.")

with meta_tab:
    with st.form("meta"):
        title = st.text_input("Title", doc["title"])
        tags = st.text_input("Tags (comma-separated)", ", ".join(doc["tags"]))
        language = st.text_input("Language", doc["language"])
        meta_text = st.text_area("Metadata (JSON object)", json.dumps(doc["meta"], ensure_ascii=False, indent=2))
        save_meta = st.form_submit_button("Save metadata", type="primary")
    if save_meta:
        try:
            meta = json.loads(meta_text or "{}")
            if not isinstance(meta, dict):
                raise ValueError("it must be a JSON object, e.g. {\"owner\": \"returns team\"}")
        except ValueError as exc:
            st.error(f"Metadata is not valid: {exc}")
        else:
            if session.call(api.update_document, doc_id, title=title, language=language, meta=meta,
                            tags=[t.strip() for t in tags.split(",") if t.strip()]):
                done("Metadata saved.")
    st.markdown(f"Status: **{doc['status']}** — only active documents are retrieved.")
    a1, a2, a3, a4 = st.columns(4)
    if doc["status"] != "active" and a1.button("Activate"):
        if session.call(api.update_document, doc_id, status="active"):
            done("Document activated.")
    if doc["status"] == "active" and a2.button("Disable document"):
        if session.call(api.update_document, doc_id, status="disabled"):
            done("Document disabled.")
    if doc["status"] != "archived" and a3.button("Archive"):
        st.session_state["confirm-archive"] = True
    if a4.button("Delete"):
        st.session_state["confirm-delete"] = True
    if session.confirm("confirm-archive", f"Archive “{doc['title']}”? It leaves retrieval until activated again."):
        if session.call(api.update_document, doc_id, status="archived"):
            done("Document archived.")
    if session.confirm("confirm-delete", f"Delete “{doc['title']}” and all its versions for good? "
                                         "This cannot be undone."):
        if session.call(lambda: api.delete_document(doc_id) or True):
            st.session_state.pop("knowledge_doc", None)
            done("Document deleted.")

with versions_tab:
    if versions:
        st.dataframe(pd.DataFrame(versions)[["version", "note", "created_by", "created_at"]], width="stretch",
                     hide_index=True)
        numbers = [v["version"] for v in versions]
        by_number = {v["version"]: v for v in versions}
        d1, d2 = st.columns(2)
        old = d1.selectbox("Compare version", numbers, index=max(0, len(numbers) - 2))
        new = d2.selectbox("with version", numbers, index=len(numbers) - 1)
        diff = version_diff(by_number[old]["snapshot"], by_number[new]["snapshot"], f"version {old}", f"version {new}")
        st.code(diff or "(no differences)", language="diff")
        back = st.selectbox("Roll back to version", numbers[:-1] or numbers, index=max(0, len(numbers) - 2))
        if st.button(f"Roll back to version {back}", type="primary", disabled=len(numbers) < 2):
            restored = session.call(api.restore, doc_id, int(back))
            if restored:
                done(f"Rolled back to version {back} (now version {restored['version']}).")

with audit_tab:
    entries = session.call(api.audit, target=doc_id) or []
    if entries:
        frame = pd.DataFrame(entries)
        frame["detail"] = frame["detail"].map(lambda d: ", ".join(f"{k}={v}" for k, v in d.items()))
        st.dataframe(frame[["at", "actor", "action", "detail"]], width="stretch", hide_index=True)
