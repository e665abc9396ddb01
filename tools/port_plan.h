// What `bgupdate port` will copy, decided before anything changes: each
// source table's target table and where each column goes (by the target's
// column types), the sequences named with --sequence, whether the target
// holds data of its own, and whether pending updates can be finished here.
// A port that makes no sense is refused with PortRefusal.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "connection.h"
#include "port_source.h"
#include "port_target.h"

namespace bgtool {

// A port refused before anything was copied; `code` is the exit code.
class PortRefusal : public std::runtime_error {
public:
    PortRefusal(int code, const std::string& why) : std::runtime_error(why), code(code) {}
    int code;
};

struct TablePlan {
    SourceTable source;
    TargetTable target;
    std::vector<size_t> source_index;  // per copied column: its index in source.columns
    std::vector<std::string> target_columns;
    std::vector<bgupdate::TargetType> types;
    int64_t source_rows = 0;
};

// --sequence SEQ=TABLE.COLUMN[,TABLE.COLUMN…]: a sequence the application draws ids from in its code.
struct NamedSequence {
    std::string sequence;  // as the catalog names it
    std::string why;       // "events.stream_ordering, …"
    std::vector<std::pair<std::string, std::string>> columns;  // quoted table, column
};

struct PortPlan {
    std::vector<TablePlan> tables;
    std::vector<NamedSequence> sequences;
    std::vector<std::string> notes;  // tables not copied, tables copied in rowid order
};

// Throws UsageError for a malformed --sequence, PortRefusal when a table or
// column with data has nowhere to go, or (on a first run) the target holds
// rows of its own.
PortPlan plan_port(PortSource& source, PortTarget& target, const std::vector<std::string>& sequence_options,
                   bool first_run);

// Queued updates that step() could wait on forever here (no handler, batches
// the application runs, an application function SQLite's tool connection
// lacks, an index that needs the PostgreSQL worker), as a sentence; nullopt
// when every one can be finished.
std::optional<std::string> cannot_finish_here(Connection& db);

}  // namespace bgtool
