"""Residents: accounts by one-time code, households confirmed by the street, and residents' polls."""
