"""The HTTP edge: JSON API routes, error rendering, auth dependencies, metrics."""
