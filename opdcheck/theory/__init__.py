"""Symbolic derivations (sympy only): the updates, the paper's constants and lemmas, rate certificates.

No iteration and no numpy loops here.
"""
