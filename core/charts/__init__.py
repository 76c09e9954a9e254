"""Plotly figure builders: pure functions, data in, go.Figure out; one module per area."""
