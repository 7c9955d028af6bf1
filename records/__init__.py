"""The research record: typed, versioned schema, the only reader and writer, and migrations.

records.schema       the models of a record line (Header, the events) and SCHEMA_VERSION
records.reader       read_header / read_record / iter_events / scan / read_run_end / record_status,
                     find_records (a file or a folder, set-aside attempts excluded)
records.writer       RecordWriter(path).open(header) / .write(event) / .close()
records.migrations   upgrades of older versions, in memory, keyed by version
records.json_schema  the committed JSON Schema snapshot: `python -m records.json_schema`

docs/records.md describes the format, its versions and how to change it.
"""
