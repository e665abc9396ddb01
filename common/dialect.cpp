// SQL text per dialect. Identifiers are always quoted; values are inlined as
// literals (standard SQL quoting, PostgreSQL's E'' form for backslashes).
#include "dialect.h"

#include <cstdio>

#include "errors.h"
#include "store_schema.h"

namespace bgupdate {

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) {
        if (i) out += sep;
        out += parts[i];
    }
    return out;
}

std::string Dialect::ident(const std::string& name) const {
    if (name.empty()) bad_input("empty identifier: a table, column, index or constraint name is required");
    if (name.find('\0') != std::string::npos) bad_input("identifier contains a NUL byte");
    std::string out = "\"";
    for (char c : name) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

static std::pair<std::string, std::string> split_qualified(const std::string& name) {
    auto dot = name.find('.');
    if (dot == std::string::npos || name.find('.', dot + 1) != std::string::npos) return {"", name};
    return {name.substr(0, dot), name.substr(dot + 1)};
}

std::string Dialect::table(const std::string& name) const {
    if (is_postgres()) {
        auto [schema, rel] = split_qualified(name);
        if (!schema.empty()) return ident(schema) + "." + ident(rel);
    }
    return ident(name);
}

std::string Dialect::schema_prefix_of(const std::string& table_name) const {
    if (!is_postgres()) return "";
    auto [schema, rel] = split_qualified(table_name);
    return schema.empty() ? "" : ident(schema) + ".";
}

std::string Dialect::literal(const std::string& text) const {
    if (text.find('\0') != std::string::npos) bad_input("text value contains a NUL byte");
    bool backslash = is_postgres() && text.find('\\') != std::string::npos;
    std::string out = backslash ? "E'" : "'";
    for (char c : text) {
        if (c == '\'') out += '\'';
        if (backslash && c == '\\') out += '\\';
        out += c;
    }
    return out + "'";
}

std::string Dialect::placeholder(int n) const {
    if (n < 1) throw Error(ErrorKind::Failure, "bgupdate internal error: parameter number " + std::to_string(n));
    return (is_postgres() ? "$" : "?") + std::to_string(n);
}

std::string Dialect::literal(const Value& v) const {
    switch (v.kind) {
        case Value::Kind::Null: return "NULL";
        case Value::Kind::Integer: return std::to_string(v.integer);
        case Value::Kind::Real: return v.as_text();
        case Value::Kind::Text: return literal(v.text);
    }
    return "NULL";
}

std::string Dialect::own(OwnTable t) const {
    static const char* names[] = {"background_updates", "update_registry",    "update_state",
                                  "update_history",     "config",             "schema_version",
                                  "schema_compat_version", "applied_schema_deltas", "skipped_schema_deltas"};
    std::string base = names[static_cast<int>(t)];
    if (is_postgres()) return "bgupdate." + base;
    // SQLite: Synapse's own names stay unprefixed so Synapse deltas work unchanged.
    switch (t) {
        case OwnTable::Queue:
        case OwnTable::SchemaVersion:
        case OwnTable::SchemaCompat:
        case OwnTable::AppliedDeltas: return base;
        case OwnTable::Registry: return "bgupdate_registry";
        case OwnTable::State: return "bgupdate_state";
        case OwnTable::History: return "bgupdate_history";
        case OwnTable::Config: return "bgupdate_config";
        case OwnTable::SkippedDeltas: return "bgupdate_skipped_schema_deltas";
    }
    return base;
}

std::string Dialect::columns_of_table_sql(const std::string& table_name) const {
    if (is_postgres()) {
        return "SELECT attname::text FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass(" +
               literal(table(table_name)) + ") AND attnum > 0 AND NOT attisdropped ORDER BY attnum";
    }
    return "SELECT name FROM pragma_table_info(" + literal(table_name) + ") ORDER BY cid";
}

std::string Dialect::not_null_columns_sql(const std::string& table_name) const {
    if (is_postgres()) {
        return "SELECT a.attname::pg_catalog.text, a.attnotnull FROM pg_catalog.pg_attribute a"
               " WHERE a.attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(" + literal(table(table_name)) +
               ")::pg_catalog.oid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped";
    }
    const std::string t = literal(table_name);
    const std::string rowid_alias = "(upper(ti.type) = 'INTEGER' AND (SELECT count(*) FROM pragma_table_info(" + t +
                                    ") WHERE pk > 0) = 1 AND NOT EXISTS (SELECT 1 FROM pragma_index_list(" + t +
                                    ") WHERE origin = 'pk'))";
    // WITHOUT ROWID: a primary key index that does not end in the rowid (cid -1);
    // pragma_index_xinfo works on SQLite versions older than pragma_table_list.
    const std::string without_rowid = "(EXISTS (SELECT 1 FROM pragma_index_list(" + t + ") WHERE origin = 'pk')"
                                      " AND NOT EXISTS (SELECT 1 FROM pragma_index_list(" + t + ") AS il"
                                      " JOIN pragma_index_xinfo(il.name) AS x WHERE il.origin = 'pk' AND x.cid = -1))";
    return "SELECT ti.name, ti.\"notnull\" OR (ti.pk > 0 AND (" + rowid_alias + " OR " + without_rowid +
           ")) FROM pragma_table_info(" + t + ") AS ti";
}

std::string Dialect::unique_keys_sql(const std::string& table_name) const {
    if (is_postgres()) {
        // indkey past indnkeyatts are INCLUDE columns, not part of the key.
        return "SELECT i.indexrelid::pg_catalog.text, a.attname::pg_catalog.text FROM pg_catalog.pg_index i"
               " JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid"
               " AND a.attnum OPERATOR(pg_catalog.=) ANY ((i.indkey::pg_catalog.int2[])[0:i.indnkeyatts"
               " OPERATOR(pg_catalog.-) 1])"
               " WHERE i.indrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(" + literal(table(table_name)) +
               ")::pg_catalog.oid AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL";
    }
    const std::string t = literal(table_name);
    // An expression column of an index has no name (NULL): the core skips such keys.
    // A rowid alias has no index of its own.
    return "SELECT il.name, ii.name FROM pragma_index_list(" + t + ") AS il JOIN pragma_index_info(il.name) AS ii"
           " WHERE il.\"unique\" = 1 AND il.partial = 0"
           " UNION ALL SELECT '', ti.name FROM pragma_table_info(" + t + ") AS ti WHERE ti.pk > 0"
           " AND upper(ti.type) = 'INTEGER' AND (SELECT count(*) FROM pragma_table_info(" + t + ") WHERE pk > 0) = 1"
           " AND NOT EXISTS (SELECT 1 FROM pragma_index_list(" + t + ") WHERE origin = 'pk')";
}

std::string Dialect::owner_of_sql(const std::string& update_name) const {
    std::string name = literal(update_name);
    if (is_postgres()) return "SELECT bgupdate._name_taken(" + name + "), bgupdate._owner_of(" + name + ")";
    return "SELECT EXISTS (SELECT 1 FROM " + own(OwnTable::Registry) + " WHERE update_name = " + name +
           ") OR EXISTS (SELECT 1 FROM " + own(OwnTable::Queue) + " WHERE update_name = " + name + "), (SELECT owner FROM " +
           own(OwnTable::Registry) + " WHERE update_name = " + name + ")";
}

std::string Dialect::row_estimate_sql(const std::string& table_name) const {
    if (is_postgres()) {
        // Taken once, at an update's first batch, before its own writes
        // bloat the table (a size-on-disk guess read later would grow with
        // them). With statistics: reltuples, as ANALYZE or VACUUM left it.
        // Without (never analyzed, reltuples -1; or analyzed empty and
        // filled since): the live rows in up to 64 evenly spread pages, read
        // by TID range (a few ms however big the table), times the pages.
        // A partitioned table has no pages of its own: its leaf partitions'
        // statistics are summed, unknown while one has none (the partition
        // code estimates each partition on its own when it reaches it).
        // Every operator is pg_catalog's: this runs with the owner's
        // search_path, which may put the owner's own operators first.
        const std::string rel = literal(table(table_name));
        const std::string pages = "(pg_catalog.pg_relation_size(c.oid) OPERATOR(pg_catalog./)"
                                  " pg_catalog.current_setting('block_size')::bigint)";
        return "SELECT CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'p' THEN (SELECT CASE WHEN"
               " pg_catalog.bool_or(l.reltuples OPERATOR(pg_catalog.<) 0) THEN NULL"
               " ELSE COALESCE(pg_catalog.sum(l.reltuples), 0)::bigint END FROM pg_catalog.pg_class l"
               " WHERE l.oid OPERATOR(pg_catalog.=) ANY (SELECT relid FROM pg_catalog.pg_partition_tree(c.oid) WHERE isleaf)"
               " AND l.relkind OPERATOR(pg_catalog.<>) 'p')"
               " WHEN c.reltuples OPERATOR(pg_catalog.>) 0 OR (c.reltuples OPERATOR(pg_catalog.=) 0 AND " + pages +
               " OPERATOR(pg_catalog.=) 0) THEN c.reltuples::bigint"
               " WHEN " + pages + " OPERATOR(pg_catalog.=) 0 THEN 0"
               " ELSE (SELECT pg_catalog.round(pg_catalog.sum(n)::numeric OPERATOR(pg_catalog./) pg_catalog.count(*)"
               " OPERATOR(pg_catalog.*) " + pages + ")::bigint"
               " FROM (SELECT DISTINCT (" + pages + " OPERATOR(pg_catalog.*) k OPERATOR(pg_catalog./) 64)::bigint AS b"
               " FROM pg_catalog.generate_series(0, 63) k) picked,"
               " LATERAL (SELECT pg_catalog.count(*) AS n FROM " + table(table_name) +
               " WHERE ctid OPERATOR(pg_catalog.>=) pg_catalog.concat('(', picked.b, ',0)')::pg_catalog.tid"
               " AND ctid OPERATOR(pg_catalog.<) pg_catalog.concat('(', picked.b OPERATOR(pg_catalog.+) 1, ',0)')::pg_catalog.tid)"
               " counted) END"
               " FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(" + rel + ")";
    }
    // SQLite keeps no row estimate; an unfiltered count walks the b-tree
    // without decoding rows (about 10 ms a million), once when an update starts.
    return "SELECT count(*) FROM " + table(table_name);
}

std::string Dialect::has_statistics_sql(const std::string& table_name) const {
    if (!is_postgres()) return "";
    // As row_estimate_sql decides: statistics unless it samples (a
    // partitioned table: every leaf partition has statistics). Operators
    // are pg_catalog's, as there.
    return "SELECT CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'p' THEN (SELECT"
           " COALESCE(pg_catalog.bool_and(l.reltuples OPERATOR(pg_catalog.>=) 0), true)"
           " FROM pg_catalog.pg_class l WHERE l.oid OPERATOR(pg_catalog.=) ANY (SELECT relid FROM pg_catalog.pg_partition_tree(c.oid) WHERE isleaf)"
           " AND l.relkind OPERATOR(pg_catalog.<>) 'p') ELSE c.reltuples OPERATOR(pg_catalog.>) 0 OR"
           " (c.reltuples OPERATOR(pg_catalog.=) 0 AND pg_catalog.pg_relation_size(c.oid) OPERATOR(pg_catalog.=) 0) END"
           " FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(" +
           literal(table(table_name)) + ")";
}

std::string Dialect::range_row_estimate_sql(const std::string& from, const std::string& where) const {
    if (is_postgres()) return "EXPLAIN (FORMAT JSON) SELECT 1 FROM " + from + " WHERE " + where;
    return "SELECT count(*) FROM " + from + " WHERE " + where;
}

std::string Dialect::lock_rows_clause() const { return is_postgres() ? " FOR UPDATE" : ""; }

bool Dialect::estimates_from_statistics() const { return is_postgres(); }

bool Dialect::concurrent_index_builds() const { return is_postgres(); }

std::string Dialect::validate_constraint_sql(const std::string& quoted_table, const std::string& constraint_name) const {
    if (!is_postgres()) return "";
    return "ALTER TABLE " + quoted_table + " VALIDATE CONSTRAINT " + ident(constraint_name);
}

std::string Dialect::relation_exists_sql(const std::string& schema, const std::string& name) const {
    if (is_postgres())
        return "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=)"
               " c.relnamespace WHERE n.nspname OPERATOR(pg_catalog.=) " + literal(schema) +
               " AND c.relname OPERATOR(pg_catalog.=) " + literal(name);
    return "SELECT 1 FROM " + ident(schema.empty() ? "main" : schema) + ".sqlite_master WHERE type = 'table' AND name = " +
           literal(name);
}

std::string Dialect::partition_tree_sql(const std::string& table_name) const {
    if (!is_postgres()) return "";
    const std::string rel = "pg_catalog.to_regclass(" + literal(table(table_name)) + ")";
    return "SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text, pn.nspname::pg_catalog.text,"
           " pc.relname::pg_catalog.text, t.isleaf, t.level"
           " FROM pg_catalog.pg_partition_tree(" + rel + ") t"
           " JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.relid"
           " JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
           " LEFT JOIN pg_catalog.pg_class pc ON pc.oid OPERATOR(pg_catalog.=) t.parentrelid"
           " LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid OPERATOR(pg_catalog.=) pc.relnamespace"
           " WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class r WHERE r.oid OPERATOR(pg_catalog.=) " + rel +
           " AND r.relkind OPERATOR(pg_catalog.=) 'p')"
           " ORDER BY t.level, n.nspname, c.relname";
}

std::string Dialect::partition_key_columns_sql(const std::string& table_name) const {
    if (!is_postgres()) return "";
    return "SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_partitioned_table p"
           " CROSS JOIN LATERAL pg_catalog.unnest(p.partattrs::pg_catalog.int2[]) AS k(attnum)"
           " LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) p.partrelid"
           " AND a.attnum OPERATOR(pg_catalog.=) k.attnum"
           " WHERE p.partrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(" + literal(table(table_name)) + ")";
}

std::string Dialect::index_validity_sql(const std::string& quoted_index) const {
    if (!is_postgres()) return "";
    return "SELECT i.indisvalid FROM pg_catalog.pg_index i WHERE i.indexrelid OPERATOR(pg_catalog.=)"
           " pg_catalog.to_regclass(" + literal(quoted_index) + ")";
}

std::string Dialect::attached_index_sql(const std::string& quoted_table, const std::string& quoted_parent_index) const {
    if (!is_postgres()) return "";
    return "SELECT c.relname::pg_catalog.text FROM pg_catalog.pg_inherits h"
           " JOIN pg_catalog.pg_index i ON i.indexrelid OPERATOR(pg_catalog.=) h.inhrelid"
           " JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) h.inhrelid"
           " WHERE h.inhparent OPERATOR(pg_catalog.=) pg_catalog.to_regclass(" + literal(quoted_parent_index) + ")"
           " AND i.indrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(" + literal(quoted_table) + ")";
}

std::string Dialect::unvalidated_partitions_sql(const std::string& table_name, const std::string& constraint_name) const {
    if (!is_postgres()) return "";
    return "SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text"
           " FROM pg_catalog.pg_partition_tree(pg_catalog.to_regclass(" + literal(table(table_name)) + ")) t"
           " JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.relid"
           " JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
           " JOIN pg_catalog.pg_constraint k ON k.conrelid OPERATOR(pg_catalog.=) t.relid"
           " AND k.conname OPERATOR(pg_catalog.=) " + literal(constraint_name) +
           " WHERE t.isleaf AND t.level OPERATOR(pg_catalog.>) 0 AND NOT k.convalidated"
           " ORDER BY t.level, n.nspname, c.relname";
}

std::string Dialect::constraint_validated_sql(const std::string& quoted_table, const std::string& constraint_name) const {
    if (!is_postgres()) return "";
    return "SELECT convalidated FROM pg_catalog.pg_constraint WHERE conrelid OPERATOR(pg_catalog.=)"
           " pg_catalog.to_regclass(" + literal(quoted_table) + ") AND conname OPERATOR(pg_catalog.=) " +
           literal(constraint_name);
}

std::vector<std::string> Dialect::schema_ddl() const {
    if (is_postgres()) return {};  // shipped in the extension's install script
    return latest_store_ddl(*this);
}

}  // namespace bgupdate
