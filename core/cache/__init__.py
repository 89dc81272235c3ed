"""Read caches per web worker that are never stale: keyed by data versions the database bumps on commit."""
