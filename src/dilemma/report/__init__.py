"""The static HTML report of a folder of records, and the plain-text transcript of one run."""
