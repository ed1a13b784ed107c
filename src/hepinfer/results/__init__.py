"""The record schema, JSON Lines I/O and schema migrations."""
