"""A throwaway PostgreSQL server for the checker: initdb and postgres run as
the postgres system user (they refuse root) in a temporary folder it owns,
with bgupdate preloaded and the settings the checker asks for. The server
listens on a Unix socket in that folder only."""
import os
import shutil
import subprocess
import tempfile
import time

import psycopg2


def _as_postgres(argv):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + argv
    return argv


class PgServer:
    def __init__(self, pgbin, port, settings, keep=False):
        self.pgbin = pgbin
        self.port = port
        self.settings = settings
        self.keep = keep
        self.dir = tempfile.mkdtemp(prefix="bgupdate-checker-pg.")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o755)

    def dsn(self, user="postgres", dbname="checker", app="checker", options=None):
        extra = f" options='{options}'" if options else ""
        return f"host={self.dir} port={self.port} user={user} dbname={dbname} application_name={app}{extra}"

    def start(self):
        subprocess.run(_as_postgres([os.path.join(self.pgbin, "initdb"), "-D", self.data, "-A", "trust",
                                     "-U", "postgres", "--no-sync"]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        conf = dict(self.settings)
        conf.update({"port": self.port, "unix_socket_directories": f"'{self.dir}'", "listen_addresses": "''",
                     "fsync": "off", "logging_collector": "off"})
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")
        subprocess.run(_as_postgres([os.path.join(self.pgbin, "pg_ctl"), "-D", self.data, "-l", self.log,
                                     "-w", "-t", "120", "start"]),
                       check=True, stdout=subprocess.DEVNULL)
        conn = self.wait_ready(dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE checker")
        conn.close()

    def wait_ready(self, timeout=120.0, **kw):
        """A connection once the server accepts one (after a crash it
        restarts every backend and replays WAL first)."""
        end = time.monotonic() + timeout
        while True:
            try:
                return psycopg2.connect(self.dsn(**kw), connect_timeout=5)
            except psycopg2.OperationalError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.2)

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def log_tail(self, lines=40):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        subprocess.run(_as_postgres([os.path.join(self.pgbin, "pg_ctl"), "-D", self.data, "-w", "-t", "60",
                                     "-m", "immediate", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
