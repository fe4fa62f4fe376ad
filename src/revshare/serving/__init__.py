"""One request's life, outside HTTP: admission, the lease it holds, the engine run, its record."""
