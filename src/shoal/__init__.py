"""Shoal: multi-cluster Kubernetes management platform."""
