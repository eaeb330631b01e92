"""What the scorers find with, kept apart from the scorers: language guessing, version families, secret and
marking patterns, and the presidio scan for personal data (prefilter, recognizers, example-value rules)."""
