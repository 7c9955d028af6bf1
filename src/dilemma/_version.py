"""The release version: the one place it is set (the build reads it for the package metadata).

Bump it for every release and list what changed under it in CHANGELOG.md, above all any change
of a measure's definition.
"""

__version__ = "0.4.1"
