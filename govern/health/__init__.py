"""Liveness, readiness and Prometheus metrics for operators and load balancers."""
