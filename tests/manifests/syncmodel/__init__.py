"""An Argo CD v3.5.1 sync model: bootstraps a profile (laptop = kind, eks) on a simulated
cluster from this repository's root Application, runs Argo CD's sync engine wave by wave
(waves.py, a port of gitops-engine's sync_context.go), judges health with Argo CD's own Lua
scripts and Go checks (health.py, lua.py, health_go.py) on the status the profile's
controllers would write (status_core.py, status_addons.py), and reports what never gets
Synced and Healthy (report.py). `python -m tests.manifests.syncmodel --help` runs it by hand.
"""
