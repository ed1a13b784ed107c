"""How it is measured: timer and statistics, agreement, environment (memory later)."""
