"""The record viewer: a local Starlette app listing a folder's runs and showing one run."""
