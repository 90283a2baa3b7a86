"""Tasks: each takes a loaded model and video paths and returns result records."""
