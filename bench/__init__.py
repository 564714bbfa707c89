"""``make bench``: the production server under a real HTTP load generator."""
