#include "pg_dump.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <map>
#include <regex>

#include "subprocess.h"

namespace bgtool {
namespace {

// "pg_dump (PostgreSQL) 15.20 (Debian …)" -> 15; 0 when it does not run.
int major_version_of(const std::string& path, std::string* why) {
    ProcessResult r;
    try {
        r = run_process({path, "--version"});
    } catch (const DbError& e) {
        *why = e.what();
        return 0;
    }
    std::smatch m;
    static const std::regex version(R"(\(PostgreSQL\) (\d+))");
    if (r.exit_code != 0 || !std::regex_search(r.out, m, version)) {
        *why = "does not run (exit " + std::to_string(r.exit_code) + ")";
        return 0;
    }
    return std::stoi(m[1].str());
}

std::string conninfo_quote(const std::string& v) {
    std::string out = "'";
    for (char c : v) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
    }
    return out + "'";
}

}  // namespace

PgDump find_pg_dump(Connection& db, const std::string& explicit_path) {
    int server_major = std::stoi(db.query("SHOW server_version_num").rows.at(0).at(0).value_or("0")) / 10000;
    std::vector<std::string> candidates;
    if (!explicit_path.empty()) {
        candidates.push_back(explicit_path);
    } else {
        try {  // readable by superusers and pg_read_all_settings only
            Result r = db.query("SELECT setting FROM pg_catalog.pg_config WHERE name = 'BINDIR'");
            if (!r.rows.empty() && r.rows[0][0]) candidates.push_back(*r.rows[0][0] + "/pg_dump");
        } catch (const DbError&) {
        }
        candidates.push_back("/usr/lib/postgresql/" + std::to_string(server_major) + "/bin/pg_dump");
        candidates.push_back("pg_dump");
    }
    std::string tried;
    for (auto& c : candidates) {
        std::string why;
        if (c.find('/') != std::string::npos && access(c.c_str(), X_OK) != 0) {
            why = "not found";
        } else if (int major = major_version_of(c, &why); major >= server_major) {
            return {c, major};
        } else if (major > 0) {
            why = "version " + std::to_string(major) + " is older than the server's " + std::to_string(server_major);
        }
        tried += (tried.empty() ? "" : "; ") + c + ": " + why;
    }
    throw DbError("no usable pg_dump for this PostgreSQL " + std::to_string(server_major) + " server (" + tried +
                  "): install the server's client tools or pass --pg-dump PATH");
}

std::string run_pg_dump(const PgDump& pg_dump, const std::string& conninfo, const std::vector<std::string>& options) {
    char* error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &error);
    if (!parsed) {
        std::string msg = error ? error : "cannot parse it";
        PQfreemem(error);
        throw DbError("the PostgreSQL connection string: " + msg);
    }
    std::string dbname;
    std::map<std::string, std::string> env;
    for (PQconninfoOption* o = parsed; o->keyword; ++o) {
        if (!o->val || !*o->val) continue;
        if (std::string(o->keyword) == "password") env["PGPASSWORD"] = o->val;
        else dbname += std::string(dbname.empty() ? "" : " ") + o->keyword + "=" + conninfo_quote(o->val);
    }
    PQconninfoFree(parsed);
    std::vector<std::string> argv{pg_dump.path, "--no-password", "--dbname=" + dbname};
    argv.insert(argv.end(), options.begin(), options.end());
    ProcessResult r = run_process(argv, env);
    if (r.exit_code != 0) {
        std::string err = r.err;
        while (!err.empty() && err.back() == '\n') err.pop_back();
        throw DbError(pg_dump.path + " failed (exit " + std::to_string(r.exit_code) + "): " + err);
    }
    return r.out;
}

}  // namespace bgtool
