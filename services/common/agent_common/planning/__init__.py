"""Planning shared by the orchestrator (the first plan) and the worker (a model's one
re-plan): the limits, and the conversation with a planning model."""
