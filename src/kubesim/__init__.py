"""kubesim: an in-memory Kubernetes API server for tests, benchmarks and the demo."""
