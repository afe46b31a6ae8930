"""The orchestrator: accepts tasks, plans their steps, and tracks them to the end."""
