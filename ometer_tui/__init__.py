"""ometer-tui: benchmark LLM serving endpoints from the terminal."""

__version__ = "0.1.0"
TOOL_NAME = "ometer-tui"
