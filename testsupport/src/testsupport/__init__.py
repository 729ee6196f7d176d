"""Test support shared by every service: real servers on free ports, and test doubles."""
