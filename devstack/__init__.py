"""Run the whole platform on one machine (`make dev`) and in the end-to-end tests."""
