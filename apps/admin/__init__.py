"""The admin console (Streamlit): a thin client of the backend for curating knowledge, testing retrieval,
reviewing feedback, managing accounts and adapters. Start it with `python -m apps.admin`."""
