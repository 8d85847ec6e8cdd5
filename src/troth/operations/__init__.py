"""Running troth: health and readiness checks, ``troth doctor``, Prometheus metrics and
request logs (see the README's "Operating troth")."""
