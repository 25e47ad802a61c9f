"""NuClick: click inside a nucleus (or squiggle inside an object) and get its outline.

`model_type.NuClickModelType` is the `nuclick` model type (entry point
``tilescope.model_types``); `api.outline_objects` is the one call a GUI tool or script needs.
Pure functions: `encoding` (patches and guiding maps), `postprocess` (mask -> polygon).
"""
