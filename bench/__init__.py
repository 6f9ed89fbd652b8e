"""`make bench`: the project's loads and validation against the naive method and the physical limit."""
