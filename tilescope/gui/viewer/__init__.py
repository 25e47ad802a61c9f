"""The slide viewer: the widget (`slide_view`), what it draws with (tile layout, loader, image
cache, frame painter, render), what floats over it (overlays, minimap, scale bar), the tab
that holds it and the panels and dialogs about the open slide (channels, scenes, pixel size,
associated images, status bar), and off-screen screenshots of it.

The main window, the application, background workers and the crash handler stay in
`tilescope.gui`; annotation, AI and analysis features live in their own subpackages and plug
into a view through `overlay.OverlayLayer` and `view_tool.ViewTool`.
"""
