"""The research record: typed, versioned schema, the only reader and writer, and migrations.

schema       the models of a record line (Header, the events) and SCHEMA_VERSION
reader       read_header / read_record / iter_events / scan / read_run_end / record_status,
             find_records (a file or a folder, set-aside attempts excluded)
writer       RecordWriter(path).open(header) / .write(event) / .close()
migrations   upgrades of older versions, in memory, keyed by version
json_schema  the committed JSON Schema snapshot: `python -m dilemma.records.json_schema`

docs/records.md describes the format, its versions and how to change it.
"""
