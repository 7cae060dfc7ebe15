"""The asyncio engine. Never imports textual (a test proves it)."""
