"""The HTTP edge shared by every package: error mapping, caching middleware, encoded answers, OpenAPI."""
