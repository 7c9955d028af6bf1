"""The research record: typed, versioned schema, the only reader and writer, and migrations.

read_header(path) / read_record(path) / iter_lines(path) / read_run_end(path) / record_status(path)
find_records(path) lists the records of a file or folder (set-aside attempts excluded).
RecordWriter(path).open(header) / .write(event) / .close()
"""
