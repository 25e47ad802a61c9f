"""The AI features in the window: models, jobs, runs, heat maps, NuClick and table detection.

`AiUi` (ai_ui.py) composes them; each widget lives in its own module.
"""
