"""Streamlit-only helpers shared by the pages (state, renderers, upload widgets)."""
