"""What an operator sees of a running service: Prometheus metrics (`metrics`), traces that
follow events across services (`tracing`) and one JSON object per log line (`logs`)."""
