"""Speed against the peers, measured side by side (run.py; one module per peer)."""
