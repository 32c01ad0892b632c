"""Upload page: files → chunking choice → preview of the chunks → commit with progress."""

import streamlit as st

from apps.admin import session

st.title("Upload knowledge")
api = session.client()
domain = session.domain_picker()
if domain is None:
    st.stop()

files = st.file_uploader("Files (Markdown, text, PDF, DOCX, HTML, CSV, JSONL, images)", accept_multiple_files=True)
c1, c2, c3 = st.columns(3)
chunking = c1.selectbox("Chunking", ["auto (by file type)", "fixed", "heading", "qa", "row"],
                        help="fixed: windows of text; heading: one chunk per section; qa: one per question; "
                             "row: one per table row")
tags = c2.text_input("Tags (comma-separated)")
language = c3.text_input("Language (empty: detected)")
options = dict(chunking=None if chunking.startswith("auto") else chunking, tags=tags, language=language or None)
payload = [(f.name, f.getvalue()) for f in files or []]
signature = (domain, tuple((n, len(b)) for n, b in payload), tuple(sorted(options.items(), key=str)))

if st.button("Preview", type="primary", disabled=not payload):
    result = session.call(api.upload, domain, payload, dry_run=True, **options)
    if result:
        st.session_state["upload_preview"] = {"signature": signature, "files": result["preview"]}

preview = st.session_state.get("upload_preview")
if preview and preview["signature"] == signature:
    ok = [p for p in preview["files"] if not p["error"]]
    for p in preview["files"]:
        if p["error"]:
            st.error(f"{p['file']}: {p['error']}")
            continue
        with st.expander(f"{p['file']} → “{p['title']}” · {p['kind']} · {p['language']} · {p['chunking']} · "
                         f"{len(p['chunks'])} chunks", expanded=len(preview["files"]) == 1):
            for chunk in p["chunks"]:
                st.markdown(f"**Chunk {chunk['position']}** · characters {chunk['start']}–{chunk['end']}")
                st.text(chunk["text"])
    if st.button(f"Commit {len(ok)} file(s)", disabled=not ok):
        wanted = {p["file"] for p in ok}
        progress = st.progress(0.0, text="Storing…")
        summary = {"added": [], "updated": [], "unchanged": [], "failed": []}
        todo = [(n, b) for n, b in payload if n in wanted]
        for i, (name, content) in enumerate(todo, 1):
            progress.progress((i - 1) / len(todo), text=f"Storing {name} ({i}/{len(todo)})…")
            result = session.call(api.upload, domain, [(name, content)], dry_run=False, **options)
            if result is None:
                summary["failed"].append({"file": name, "reason": "see the error above"})
                continue
            for key in summary:
                summary[key] += result[key]
        progress.progress(1.0, text="Done")
        st.session_state.pop("upload_preview", None)
        st.session_state["upload_summary"] = summary
elif preview:
    st.info("The files or options changed since the preview: preview again before committing.")

summary = st.session_state.get("upload_summary")
if summary:
    parts = [f"{len(summary[k])} {k}" for k in ("added", "updated", "unchanged") if summary[k]]
    st.success("Committed: " + (", ".join(parts) or "nothing"))
    for failure in summary["failed"]:
        st.error(f"{failure['file']}: {failure['reason']}")
