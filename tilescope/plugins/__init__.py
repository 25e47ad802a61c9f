"""Model types and their manifests. Imports `tilescope.engine`, never `tilescope.gui` or Qt."""
