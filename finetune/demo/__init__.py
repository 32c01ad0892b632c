"""The embedded demo model: a LLaVA-style model VisionDesk builds from parts that ship offline, with its own commands."""
