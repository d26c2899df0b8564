"""Packaged recipes (YAML). A regular package so that importlib.resources reads it on Python 3.9 and from a zip."""
