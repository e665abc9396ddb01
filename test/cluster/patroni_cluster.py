"""A throwaway Patroni cluster on loopback ports: one etcd member and three
PostgreSQL 15 nodes, each run by its own Patroni, with bgupdate preloaded.

Everything lives under one work directory (the tests' only state); every
process the cluster starts is found again from it (pid files, postmaster.pid,
command lines naming the directory), so cleanup() ends them all however a test
ended. Run as the postgres user (PostgreSQL refuses root).

Ports: BASE (etcd client), BASE+1 (etcd peer), BASE+10+i (PostgreSQL of node
i), BASE+20+i (Patroni REST of node i).
"""
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import psycopg2

NODES = ("n1", "n2", "n3")
SCOPE = "bgcluster"


def now_utc():
    return time.time()


class Cluster:
    def __init__(self, work, pgbin, base_port, bg_settings):
        self.work = work
        self.pgbin = pgbin
        self.base = base_port
        self.bg_settings = bg_settings  # bgupdate.* parameters, in the dynamic (DCS) configuration
        self.procs = {}  # name -> Popen of etcd / patroni
        self.pidfile = os.path.join(work, "pids")

    # ---- layout
    def etcd_port(self):
        return self.base

    def pg_port(self, name):
        return self.base + 10 + NODES.index(name)

    def rest_port(self, name):
        return self.base + 20 + NODES.index(name)

    def node_dir(self, name):
        return os.path.join(self.work, name)

    def data_dir(self, name):
        return os.path.join(self.node_dir(name), "data")

    def pg_log(self, name):
        return os.path.join(self.node_dir(name), "log", "postgresql.log")

    def patroni_log(self, name):
        return os.path.join(self.node_dir(name), "patroni.log")

    def config_file(self, name):
        return os.path.join(self.node_dir(name), "patroni.yml")

    # ---- processes
    def _spawn(self, key, argv, log):
        out = open(log, "ab")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True, cwd=self.work)
        out.close()
        self.procs[key] = p
        with open(self.pidfile, "a") as f:
            f.write("%s %d\n" % (key, p.pid))
        return p

    def start_etcd(self):
        e = os.path.join(self.work, "etcd")
        os.makedirs(e, exist_ok=True)
        client = "http://127.0.0.1:%d" % self.etcd_port()
        peer = "http://127.0.0.1:%d" % (self.base + 1)
        self._spawn("etcd", ["etcd", "--name", "e1", "--data-dir", os.path.join(e, "data"),
                             "--listen-client-urls", client, "--advertise-client-urls", client,
                             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                             "--initial-cluster", "e1=" + peer, "--initial-cluster-state", "new",
                             "--initial-cluster-token", "bgupdate-" + str(os.getpid())],
                    os.path.join(e, "etcd.log"))
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(client + "/health", timeout=2) as r:
                    if json.load(r).get("health") == "true":
                        return
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        raise RuntimeError("etcd did not become healthy; see " + os.path.join(e, "etcd.log"))

    def write_config(self, name):
        d = self.node_dir(name)
        os.makedirs(os.path.join(d, "log"), exist_ok=True)
        os.chmod(d, 0o700)
        params = {
            "shared_preload_libraries": "bgupdate",
            "unix_socket_directories": d,
            "logging_collector": "on",
            "log_directory": os.path.join(d, "log"),
            "log_filename": "postgresql.log",
            "log_rotation_age": 0,
            "log_rotation_size": 0,
            "log_line_prefix": "%m [%p] %b ",
        }
        cfg = {
            "scope": SCOPE,
            "namespace": "/bgupdate-test/",
            "name": name,
            "restapi": {"listen": "127.0.0.1:%d" % self.rest_port(name),
                        "connect_address": "127.0.0.1:%d" % self.rest_port(name)},
            "etcd3": {"host": "127.0.0.1:%d" % self.etcd_port()},
            "bootstrap": {
                # Short timings: a lost leader's key expires after ttl seconds.
                "dcs": {"ttl": 15, "loop_wait": 2, "retry_timeout": 5,
                        "maximum_lag_on_failover": 256 * 1024 * 1024,
                        "postgresql": {"use_pg_rewind": True, "use_slots": True,
                                       "parameters": dict({"wal_log_hints": "on", "max_wal_senders": 10,
                                                           "max_replication_slots": 10, "wal_keep_size": "512MB",
                                                           "hot_standby": "on", "max_worker_processes": 16},
                                                          **self.bg_settings)}},
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, "data-checksums"],
            },
            "postgresql": {
                "listen": "127.0.0.1:%d" % self.pg_port(name),
                "connect_address": "127.0.0.1:%d" % self.pg_port(name),
                "data_dir": self.data_dir(name),
                "bin_dir": self.pgbin,
                "pgpass": os.path.join(d, "pgpass"),
                "use_unix_socket": True,
                "authentication": {u: {"username": "postgres", "password": "postgres"}
                                   for u in ("superuser", "replication", "rewind")},
                "pg_hba": ["local all all trust", "host all all 127.0.0.1/32 trust",
                           "host replication all 127.0.0.1/32 trust"],
                "basebackup": [{"checkpoint": "fast"}],
                "parameters": params,
            },
        }
        with open(self.config_file(name), "w") as f:
            json.dump(cfg, f, indent=1)  # JSON is YAML

    def start_node(self, name):
        if not os.path.exists(self.config_file(name)):
            self.write_config(name)
        self._spawn(name, ["patroni", self.config_file(name)], self.patroni_log(name))

    def postmaster_pid(self, name):
        try:
            with open(os.path.join(self.data_dir(name), "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def lose_node(self, name):
        """The node is lost: its Patroni and its postmaster die (SIGKILL),
        and every process the postmaster had started with them."""
        p = self.procs.get(name)
        if p and p.poll() is None:
            p.kill()
            p.wait()
        pm = self.postmaster_pid(name)
        if pm and alive(pm):
            os.kill(pm, signal.SIGSTOP)  # forks nothing between listing and killing
            kids = children_of(pm)
            os.kill(pm, signal.SIGKILL)
            for k in kids:
                try:
                    os.kill(k, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            wait_gone([pm] + kids)

    def cleanup(self):
        """Ends every process of this cluster: Patroni first (it would restart
        PostgreSQL), then each postmaster (immediate stop: it removes its shared
        memory), then whatever is left (SIGKILL), etcd last."""
        for key, p in list(self.procs.items()):
            if key != "etcd" and p.poll() is None:
                p.kill()
                p.wait()
        kill_by_command_line(self.work, only="patroni.yml")
        for name in NODES:
            pm = self.postmaster_pid(name)
            if pm and alive(pm):
                subprocess.run([os.path.join(self.pgbin, "pg_ctl"), "-D", self.data_dir(name), "-m", "immediate",
                                "-w", "-t", "20", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kill_by_command_line(self.work)
        for n in NODES:
            pm = self.postmaster_pid(n)
            if pm and alive(pm):  # a postmaster's command line may not name its directory
                for k in [pm] + children_of(pm):
                    try:
                        os.kill(k, signal.SIGKILL)
                    except ProcessLookupError:
                        pass

    # ---- Patroni
    def rest(self, name, path, method="GET", body=None, timeout=3):
        """(HTTP status, parsed JSON or None); status 0 when the node does not answer."""
        url = "http://127.0.0.1:%d%s" % (self.rest_port(name), path)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                code = r.status
        except urllib.error.HTTPError as e:
            raw, code = e.read(), e.code
        except OSError:
            return 0, None
        try:
            return code, json.loads(raw) if raw else None
        except ValueError:
            return code, None

    def leaders(self, among=NODES):
        return [n for n in among if self.rest(n, "/leader")[0] == 200]

    def wait_leader(self, timeout, among=NODES):
        deadline = time.time() + timeout
        while time.time() < deadline:
            ls = self.leaders(among)
            if len(ls) == 1 and self.is_primary(ls[0]):
                return ls[0]
            time.sleep(0.25)
        return None

    def is_primary(self, name):
        try:
            return self.query(name, "SELECT NOT pg_is_in_recovery()", db="postgres")[0][0]
        except psycopg2.Error:
            return False

    def streaming_replicas(self, leader):
        """application_name of the standbys streaming from `leader`."""
        try:
            return sorted(r[0] for r in self.query(
                leader, "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'", db="postgres"))
        except psycopg2.Error:
            return []

    def wait_streaming(self, leader, names, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all(n in self.streaming_replicas(leader) for n in names):
                return True
            time.sleep(0.25)
        return False

    def patronictl(self, *args, timeout=120):
        return subprocess.run(["patronictl", "-c", self.config_file(NODES[0])] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              timeout=timeout, text=True, cwd=self.work)

    def set_parameters(self, params):
        """Changes postgresql parameters of every node through Patroni's
        dynamic configuration (PATCH /config); Patroni reloads each node."""
        for n in NODES:
            code, _ = self.rest(n, "/config", "PATCH", {"postgresql": {"parameters": params}})
            if code == 200:
                return True
        return False

    # ---- SQL
    def connect(self, name, db="app"):
        c = psycopg2.connect(host="127.0.0.1", port=self.pg_port(name), dbname=db, user="postgres",
                             connect_timeout=5, application_name="bgupdate-cluster-test")
        c.autocommit = True
        return c

    def query(self, name, sql, args=None, db="app"):
        c = self.connect(name, db)
        try:
            with c.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall() if cur.description else []
        finally:
            c.close()

    def value(self, name, sql, args=None, db="app"):
        return self.query(name, sql, args, db)[0][0]


# ---- processes, read from /proc (no psutil needed by the tests themselves)
def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return not f.read().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(") ", 1)[1].split()
            if int(fields[1]) == pid:
                kids.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return kids


def wait_gone(pids, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        pids = [p for p in pids if alive(p)]
        if not pids:
            return True
        time.sleep(0.1)
    return False


def kill_by_command_line(work, only=""):
    """SIGKILL every process whose command line names a node's or etcd's
    directory (pg_rewind, pg_basebackup, a postgres in single-user mode, a
    Patroni, and their children); never the test driver itself."""
    me = os.getpid()
    marks = [os.path.join(work, d) + "/" for d in NODES + ("etcd",)]
    for _ in range(5):
        found = []
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == me:
                continue
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if any(m in cmd for m in marks) and only in cmd and alive(int(d)):
                found.append(int(d))
        if not found:
            return
        for p in found:
            for k in [p] + children_of(p):
                try:
                    os.kill(k, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        wait_gone(found, 5)


if __name__ == "__main__":
    # python3 patroni_cluster.py --cleanup WORK PGBIN: the suite's last resort
    # (run.sh calls it when the driver was killed or timed out).
    import sys
    if len(sys.argv) == 4 and sys.argv[1] == "--cleanup":
        Cluster(sys.argv[2], sys.argv[3], 0, {}).cleanup()
