"""Preset data files (TOML) and label lists; no code lives here."""
