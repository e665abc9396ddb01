#include "db_mapping.h"

#include <libpq-fe.h>

#include <regex>

#include "logical_databases.h"


namespace bgtool {
namespace {

// libpq's own list of conninfo keywords (host, dbname, sslmode, …).
bool is_conninfo_keyword(const std::string& word) {
    PQconninfoOption* options = PQconndefaults();
    bool found = false;
    for (PQconninfoOption* o = options; o && o->keyword; ++o)
        if (word == o->keyword) found = true;
    PQconninfoFree(options);
    return found;
}

struct Entry {
    std::string name;  // empty: plain
    std::string url;
};

Entry parse_entry(const std::string& arg) {
    static const std::regex named(R"(^([A-Za-z_][A-Za-z0-9_-]*)=(.*)$)");
    std::smatch m;
    if (std::regex_match(arg, m, named) && !is_conninfo_keyword(m[1].str())) {
        if (m[2].str().empty()) throw UsageError("--db " + arg + ": no database after '='");
        return {m[1].str(), m[2].str()};
    }
    return {"", arg};
}

}  // namespace

std::string PhysicalDatabase::label() const {
    std::string out;
    for (auto& n : logical) out += (out.empty() ? "" : "+") + n;
    return out;
}

std::set<std::string> DbMapping::every_logical() const {
    std::set<std::string> out;
    for (auto& p : databases)
        for (auto& n : p.logical)
            if (n != bgupdate::kCommonLogicalDatabase) out.insert(n);
    return out;
}

DbMapping parse_db_mapping(const std::vector<std::string>& args) {
    if (args.empty())
        throw UsageError("no database given: use --db postgresql://… or --db sqlite:///path (or set BGUPDATE_DB)");
    DbMapping m;
    std::set<std::string> names;
    bool plain = false, named = false;
    for (auto& a : args) {
        Entry e = parse_entry(a);
        (e.name.empty() ? plain : named) = true;
        if (e.name.empty()) {
            m.databases.push_back({e.url, {}});
            continue;
        }
        if (!names.insert(e.name).second) throw UsageError("the logical database '" + e.name + "' is given twice");
        PhysicalDatabase* same = nullptr;
        for (auto& p : m.databases)
            if (p.url == e.url) same = &p;
        if (same) same->logical.insert(e.name);
        else m.databases.push_back({e.url, {e.name}});
    }
    if (plain && named)
        throw UsageError("give either one --db URL (a database holding every logical database) or names for each: "
                            "--db main=URL --db state=URL");
    if (plain && m.databases.size() > 1)
        throw UsageError("several --db need the logical database each holds: --db main=URL --db state=URL");
    return m;
}

std::string single_database(const std::vector<std::string>& args) {
    DbMapping m = parse_db_mapping(args);
    if (m.databases.size() > 1) throw UsageError("this command works on one database at a time: give one --db");
    return m.databases.front().url;
}

}  // namespace bgtool
