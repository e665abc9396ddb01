// The PostgreSQL side of `bgupdate port`: the target's tables and column
// types (which decide each value's conversion), the order foreign keys need,
// each batch copied with COPY and its progress row in one transaction, and
// identity columns and sequences moved past the copied rows.
#pragma once

#include <libpq-fe.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "copy_values.h"

namespace bgtool {

struct TargetColumn {
    std::string name;
    bgupdate::TargetType type = bgupdate::TargetType::Text;
    std::string type_name;     // format_type, for messages
    bool generated = false;    // GENERATED ALWAYS AS (…) STORED: computed, never copied
    bool required = false;     // NOT NULL without a default
    std::string sequence;      // an identity or serial column's sequence (quoted, qualified), else empty
};

struct TargetTable {
    std::string name;       // as in the catalog
    std::string qualified;  // quoted schema.table
    std::vector<TargetColumn> columns;
    std::vector<std::string> key;  // primary key, else the first unique constraint, else every column
    const TargetColumn* column(const std::string& name_any_case) const;
};

struct PortProgress {
    std::string table, source, key_columns;
    std::optional<std::string> last_key;
    int64_t rows = 0;
    bool done = false;
};

class PortTarget {
public:
    explicit PortTarget(const std::string& conninfo);
    ~PortTarget();
    PortTarget(const PortTarget&) = delete;
    PortTarget& operator=(const PortTarget&) = delete;

    // Ordinary and partitioned tables of the current schema (not partitions),
    // keyed by their lower-cased name.
    std::map<std::string, TargetTable> tables();
    // `names` ordered so that a table comes after those its foreign keys point to
    // (tables in a cycle keep their order, after the rest).
    std::vector<std::string> foreign_key_order(const std::vector<std::string>& names);
    int64_t count(const TargetTable& t);
    // Up to `limit` rows of the table's key columns, as text (NULL: nullopt).
    std::vector<std::vector<std::optional<std::string>>> key_rows(const TargetTable& t, int64_t limit);

    std::map<std::string, PortProgress> progress();
    // One transaction: on the table's first batch the rows the schema put
    // there are removed; then COPY of `data` into `columns`, then the
    // progress row. All of it or nothing.
    void copy_batch(const TargetTable& t, const std::vector<std::string>& columns, const std::string& data,
                    const PortProgress& after, bool first_batch);
    // setval(sequence, the greatest of the columns (qualified table, column)
    // and `at_least`) when there is one; returns the value set.
    std::optional<int64_t> move_sequence_past(const std::string& sequence,
                                              const std::vector<std::pair<std::string, std::string>>& columns,
                                              std::optional<int64_t> at_least);
    // A sequence's name as the catalog prints it (throws DbError when there is none).
    std::string sequence_named(const std::string& name);
    // Sequences of the current schema that no column owns or defaults to.
    std::vector<std::string> loose_sequences();

private:
    std::vector<std::vector<std::optional<std::string>>> query(const std::string& sql,
                                                               const std::vector<std::string>& params = {});
    void exec(const std::string& sql);
    PGconn* conn_ = nullptr;
};

std::string quote_pg_ident(const std::string& s);

}  // namespace bgtool
