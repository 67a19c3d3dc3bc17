"""The lab's and workshops' tools (run from the repository's root: `python -m scripts.scenario`)."""
