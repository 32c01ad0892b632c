"""eval/bench package."""
