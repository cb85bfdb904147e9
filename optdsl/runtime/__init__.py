"""Implicit-differentiation toolkit: usable on its own, without the modeling layer."""
