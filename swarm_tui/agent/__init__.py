"""The agent program: standard library only, so it can be uploaded to any sandbox as is."""
