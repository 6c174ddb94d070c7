#!/usr/bin/env python3
"""Runs a statement from `segmint sql` on DuckDB or PostgreSQL and compares its result with a
Parquet file segmint wrote in process (`segmint mart` / `segmint rfm`), row for row.

    check_sql.py duckdb   --data DIR --sql FILE --expect FILE.parquet
    check_sql.py postgres --data DIR --sql FILE --expect FILE.parquet

The tables `transactions` and `customers` are the data directory's Parquet files. DuckDB reads
them in place (session time zone UTC). For PostgreSQL the script starts a throw-away server of
its own (initdb with the C locale in a temporary directory, Unix socket only, run as the
`postgres` user when started as root), loads the files with COPY through psql, runs the
statement with psql --csv, and stops the server.

Strings, integers, dates and timestamps must be equal and floats bit-identical. Exit code 0 and one
JSON line with the counts on success; 1 with the first differences otherwise.
"""
import argparse
import csv
import datetime as dt
import io
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

TABLES = ("transactions", "customers")


def rows(t):
    """A table's rows as tuples, timestamps as UTC microseconds."""
    cols = []
    for f in t.schema:
        c = t.column(f.name)
        if pa.types.is_timestamp(f.type):
            c = c.cast(pa.timestamp("us", tz="UTC"))
        cols.append(c.to_pylist())
    return list(zip(*cols))


def expected_rows(path):
    t = pq.read_table(path)
    return t.schema, rows(t)


def run_duckdb(args, sql):
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name in TABLES:
        p = os.path.join(args.data, f"{name}.parquet")
        if os.path.exists(p):
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{p}')")
    t = con.sql(sql).to_arrow_table()
    return t.schema.names, rows(t)


PG_TYPES = {
    "string": "TEXT", "large_string": "TEXT", "int64": "BIGINT", "int32": "INTEGER",
    "double": "DOUBLE PRECISION", "bool": "BOOLEAN", "date32[day]": "DATE",
}


def pg_type(t):
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ"
    return PG_TYPES[str(t)]


class Postgres:
    """A private PostgreSQL server in a temporary directory, reachable by a Unix socket."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="segmint-pg-")
        self.run_as = None
        if os.geteuid() == 0:
            self.run_as = "postgres"
            uid = pwd.getpwnam("postgres").pw_uid
            os.chown(self.dir, uid, -1)
        self.bin = os.environ.get("SEGMINT_PG_BIN") or self._find_bin()
        self.data = os.path.join(self.dir, "data")
        self._cmd([os.path.join(self.bin, "initdb"), "-D", self.data, "--no-locale", "-E", "UTF8",
                   "-U", "postgres", "-A", "trust"])
        self._cmd([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-w", "-l",
                   os.path.join(self.dir, "log"), "-o",
                   f"-k {self.dir} -c listen_addresses='' -p 54329 -c fsync=off", "start"])

    @staticmethod
    def _find_bin():
        for d in ["/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin",
                  "/usr/lib/postgresql/15/bin"]:
            if os.path.exists(os.path.join(d, "initdb")):
                return d
        p = shutil.which("initdb")
        if p:
            return os.path.dirname(p)
        sys.exit("check_sql.py: PostgreSQL server programs (initdb, pg_ctl) not found")

    def _cmd(self, argv, **kw):
        if self.run_as:
            argv = ["runuser", "-u", self.run_as, "--"] + argv
        return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)

    def psql(self, *extra, stdin=None):
        argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.dir, "-p", "54329",
                "-U", "postgres", "-d", "postgres", *extra]
        r = subprocess.run(argv, input=stdin, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"check_sql.py: psql failed: {r.stderr.strip()}")
        return r.stdout

    def stop(self):
        try:
            self._cmd([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "immediate", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def run_postgres(args, sql, schema):
    pg = Postgres()
    try:
        for name in TABLES:
            p = os.path.join(args.data, f"{name}.parquet")
            if not os.path.exists(p):
                continue
            t = pq.read_table(p)
            cols = ", ".join(f'"{f.name}" {pg_type(f.type)}' for f in t.schema)
            f_csv = os.path.join(pg.dir, f"{name}.csv")
            pacsv.write_csv(t, f_csv)
            os.chmod(f_csv, 0o644)
            pg.psql("-c", f'CREATE TABLE "{name}" ({cols})',
                    "-c", f"\\copy \"{name}\" FROM '{f_csv}' WITH (FORMAT csv, HEADER true)")
        out = pg.psql("--csv", stdin="SET TIME ZONE 'UTC';\n" + sql)
    finally:
        pg.stop()
    reader = csv.reader(io.StringIO(out))
    header = next(reader)
    types = {f.name: f.type for f in schema}
    rows = []
    for rec in reader:
        row = []
        for name, v in zip(header, rec):
            ty = types.get(name)
            if v == "" and ty is not None and not pa.types.is_string(ty):
                row.append(None)
            elif ty is None or pa.types.is_string(ty):
                row.append(v)
            elif pa.types.is_integer(ty):
                row.append(int(v))
            elif pa.types.is_floating(ty):
                row.append(float(v))
            elif pa.types.is_timestamp(ty):
                row.append(dt.datetime.fromisoformat(v).astimezone(dt.timezone.utc))
            elif pa.types.is_date(ty):
                row.append(dt.date.fromisoformat(v))
            else:
                row.append(v)
        rows.append(tuple(row))
    return header, rows


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a.hex() == b.hex()
    return a == b


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("engine", choices=["duckdb", "postgres"])
    ap.add_argument("--data", required=True)
    ap.add_argument("--sql", required=True)
    ap.add_argument("--expect", required=True)
    args = ap.parse_args()
    sql = open(args.sql, encoding="utf-8").read()
    schema, want = expected_rows(args.expect)
    if args.engine == "duckdb":
        names, got = run_duckdb(args, sql)
    else:
        names, got = run_postgres(args, sql, schema)
    problems = []
    if names != schema.names:
        problems.append(f"columns {names} != {schema.names}")
    if len(got) != len(want):
        problems.append(f"{len(got)} rows != {len(want)} expected")
    diffs = 0
    for i, (g, w) in enumerate(zip(got, want)):
        for name, a, b in zip(schema.names, g, w):
            if not same(a, b):
                diffs += 1
                if len(problems) < 12:
                    problems.append(f"row {i} ({w[0]}) {name}: got {a!r}, segmint {b!r}")
    print(json.dumps({"engine": args.engine, "rows": len(got), "columns": len(names),
                      "differences": diffs, "ok": not problems}))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
