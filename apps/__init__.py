"""User-facing apps (Gradio chat, Streamlit admin) and the local launcher that starts the platform."""
