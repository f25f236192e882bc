"""Gradio web UI (mounted at / by app.server)."""
