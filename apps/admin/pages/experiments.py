"""Experiments page: define, start and stop online A/B experiments, read per-variant feedback rates with
confidence intervals, and open the offline reports `python -m eval.ab` wrote."""

import base64
import json
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from apps.admin import session
from backend.experiments import ExperimentResults
from eval.online import RATES, analyse, html_report

st.title("Experiments")
api = session.client()
if st.session_state.get("experiments_notice"):
    st.success(st.session_state.pop("experiments_notice"))


def done(message: str) -> None:
    st.session_state["experiments_notice"] = message
    st.rerun()


def _variant_rows(frame: pd.DataFrame) -> list[dict]:
    """The editor's rows as variant specs; blank cells keep the request's own choice."""
    rows = []
    for rec in frame.to_dict("records"):
        name = str(rec.get("name") or "").strip()
        if not name:
            continue
        spec = {"name": name, "weight": float(rec.get("weight") or 1.0)}
        if rec.get("model"):
            spec["model"] = rec["model"]
        if rec.get("retrieval") in ("on", "off"):
            spec["retrieval"] = rec["retrieval"] == "on"
        if rec.get("top_k") and not pd.isna(rec["top_k"]):
            spec["top_k"] = int(rec["top_k"])
        if str(rec.get("system_prompt") or "").strip():
            spec["system_prompt"] = str(rec["system_prompt"]).strip()
        rows.append(spec)
    return rows


def rates_chart(summary: dict) -> alt.Chart:
    rows = []
    for v in summary["variants"]:
        for name, *_ in RATES:
            r = v["rates"][name]
            if r["rate"] is not None:
                low, high = r["ci"]
                rows.append({"variant": v["variant"], "metric": name, "rate": r["rate"] * 100,
                             "low": low * 100, "high": high * 100})
    data = pd.DataFrame(rows, columns=["variant", "metric", "rate", "low", "high"])
    base = alt.Chart(data).encode(x=alt.X("variant:N", title=None))
    bars = base.mark_bar().encode(y=alt.Y("rate:Q", title="%", scale=alt.Scale(domain=[0, 100])),
                                  color=alt.Color("variant:N", legend=None))
    whiskers = base.mark_errorbar().encode(y="low:Q", y2="high:Q")
    return (bars + whiskers).properties(width=180, height=220).facet(column=alt.Column("metric:N", title=None))


# ---- online experiments ---------------------------------------------------------------------------------------
experiments = session.call(api.experiments) or []
st.subheader("Online experiments")
st.caption("Conversations are assigned to variants by sticky hashing of the conversation id with the split you "
           "set; agents' ratings decide. Only one experiment runs per domain.")
if experiments:
    table = pd.DataFrame([{"experiment": e["id"], "status": e["status"], "domain": e["domain"] or "every domain",
                           "variants": ", ".join(f"{v['name']} ({v['weight']:g})" for v in e["variants"]),
                           "started": e["started_at"], "stopped": e["stopped_at"]} for e in experiments])
    st.dataframe(table, width="stretch", hide_index=True)
    chosen = st.selectbox("Experiment", [e["id"] for e in experiments])
    exp = next(e for e in experiments if e["id"] == chosen)
    if exp["description"]:
        st.markdown(exp["description"])
    st.dataframe(pd.DataFrame(exp["variants"]), width="stretch", hide_index=True)
    left, middle, right = st.columns(3)
    if exp["status"] != "running" and left.button("Start experiment", type="primary"):
        if session.call(api.start_experiment, chosen):
            done(f"{chosen} is running: new conversations are being assigned.")
    if exp["status"] == "running" and left.button("Stop experiment"):
        if session.call(api.stop_experiment, chosen):
            done(f"{chosen} stopped; its results stay.")
    if exp["status"] != "running" and right.button("Delete experiment"):
        st.session_state["confirm-delete-experiment"] = True
    if session.confirm("confirm-delete-experiment", f"Delete {chosen}? Its definition goes; answers it produced "
                                                    "keep their variant in the request log."):
        session.call(api.delete_experiment, chosen)
        done(f"Deleted {chosen}.")

    results = session.call(api.experiment_results, chosen)
    if results:
        confidence = st.select_slider("Confidence level", [0.8, 0.9, 0.95, 0.99], value=0.95)
        summary = analyse(ExperimentResults.model_validate(results), confidence)
        for verdict in summary["verdicts"]:
            st.info(verdict)
        counts = pd.DataFrame([{k: v[k] for k in ("variant", "answers", "conversations", "rated", "up", "down",
                                                  "flagged")} for v in summary["variants"]])
        st.dataframe(counts, width="stretch", hide_index=True)
        if any(v["answers"] for v in summary["variants"]):
            st.altair_chart(rates_chart(summary))
        middle.download_button("Download report (HTML)", html_report(summary), file_name=f"{chosen}.html",
                               mime="text/html")
else:
    st.info("No experiments yet. Define one below.")

with st.expander("New experiment", expanded=not experiments):
    models = [m["id"] for m in (session.call(api.models) or [])]
    domains = [d["domain"] for d in (session.call(api.domains) or [])]
    with st.form("new-experiment"):
        exp_id = st.text_input("Name (letters, digits, . _ -)", placeholder="shop-lora-v2")
        description = st.text_area("What is being tested, and why")
        domain = st.selectbox("Domain", ["every domain", *domains])
        st.caption("Variants, control first. Empty cells keep what the request asks for.")
        editor = st.data_editor(
            pd.DataFrame([{"name": "A", "weight": 1.0, "model": None, "retrieval": None, "top_k": None,
                           "system_prompt": None},
                          {"name": "B", "weight": 1.0, "model": None, "retrieval": None, "top_k": None,
                           "system_prompt": None}]),
            num_rows="dynamic", width="stretch", key="variants-editor",
            column_config={
                "name": st.column_config.TextColumn("name", required=True),
                "weight": st.column_config.NumberColumn("weight", min_value=0.01, help="Share of conversations"),
                "model": st.column_config.SelectboxColumn("model", options=models, help="Base model or adapter"),
                "retrieval": st.column_config.SelectboxColumn("retrieval", options=["on", "off"]),
                "top_k": st.column_config.NumberColumn("top_k", min_value=1, max_value=50, step=1),
                "system_prompt": st.column_config.TextColumn("system_prompt", help="Extra instructions"),
            })
        create = st.form_submit_button("Define experiment", type="primary")
    if create:
        spec = {"id": exp_id.strip(), "description": description.strip(),
                "domain": None if domain == "every domain" else domain, "variants": _variant_rows(editor)}
        if not spec["id"]:
            st.error("Give the experiment a name.")
        elif len(spec["variants"]) < 2:
            st.error("An experiment needs at least two named variants.")
        elif session.call(api.create_experiment, spec):
            done(f"Defined {spec['id']} as a draft; start it when ready.")

# ---- offline reports ------------------------------------------------------------------------------------------
st.subheader("Offline A/B reports")
reports_dir = session.reports_dir()
reports = sorted((p.parent for p in Path(reports_dir).glob("*/summary.json") if (p.parent / "report.html").exists()),
                 key=lambda p: (p / "summary.json").stat().st_mtime, reverse=True)
if not reports:
    st.info(f"No reports in {reports_dir}. Write one with `python -m eval.ab --config eval/configs/ab_retrieval.yaml "
            f"--output_dir {reports_dir}/retrieval`.")
else:
    name = st.selectbox("Report", [p.name for p in reports])
    folder = next(p for p in reports if p.name == name)
    try:
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError) as exc:
        st.error(f"{folder / 'summary.json'} cannot be read: {exc}")
    else:
        variants = summary.get("variants") or []
        # eval.ab keys variants by name; eval.online lists them
        names = list(variants) if isinstance(variants, dict) else [str(v.get("variant", "?")) for v in variants]
        st.caption(f"{folder} · variants: {', '.join(names)}")
        html = (folder / "report.html").read_text()
        st.download_button("Download report.html", html, file_name=f"{name}.html", mime="text/html")
        # A data: URL gives the report an opaque origin: its content (model answers) cannot reach the console.
        st.iframe("data:text/html;base64," + base64.b64encode(html.encode()).decode(), height=900)
