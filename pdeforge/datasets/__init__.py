"""Cards, the shard format and its checker, the store, the runner and the loader."""
