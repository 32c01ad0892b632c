"""Models page: the base model and adapters the backend serves; load and unload LoRA adapters on a vLLM server."""

import pandas as pd
import streamlit as st

from apps.admin import session

st.title("Models")
api = session.client()
if st.session_state.get("models_notice"):
    st.success(st.session_state.pop("models_notice"))

models = session.call(api.models) or []
if models:
    st.subheader("What chat can select")
    st.dataframe(pd.DataFrame(models)[["id", "kind", "parent"] if "parent" in models[0] else ["id", "kind"]],
                 width="stretch", hide_index=True)

served = session.call(api.model_server)
if served:
    st.subheader("Model server")
    if served["engine"] != "openai":
        st.info("The model runs inside the backend (transformers engine): adapters come from `model.adapters` in "
                "the settings. Loading adapters at run time needs a vLLM server (`model.engine: openai`).")
    else:
        st.caption(f"{served['base_url']} serves: {', '.join(served['served'])}")
        with st.form("load"):
            c1, c2 = st.columns(2)
            name = c1.text_input("Adapter name")
            path = c2.text_input("Adapter folder (as the vLLM server sees it)")
            load = st.form_submit_button("Load adapter", type="primary")
        if load:
            if not name.strip() or not path.strip():
                st.error("Give the adapter a name and a folder.")
            elif session.call(api.load_adapter, name.strip(), path.strip()):
                st.session_state["models_notice"] = f"Loaded {name.strip()}."
                st.rerun()
        loaded = served["served"][1:]
        if loaded:
            target = st.selectbox("Loaded adapter", loaded)
            if st.button("Unload adapter"):
                st.session_state["confirm-unload"] = True
            if session.confirm("confirm-unload", f"Unload {target}? Requests that select it will fail."):
                if session.call(api.unload_adapter, target):
                    st.session_state["models_notice"] = f"Unloaded {target}."
                    st.rerun()
