"""The annotation GUI: one session per open slide, its overlay, panels, menus and tools."""
