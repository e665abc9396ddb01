#include "store.h"

#include <chrono>
#include <ctime>
#include <iterator>

#include "errors.h"
#include "json.h"

namespace bgupdate {

int64_t wall_clock_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string iso_timestamp_now() { return iso_timestamp(wall_clock_ms()); }

std::string iso_timestamp(int64_t ms) {
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    return buf;
}

static std::optional<std::string> opt_text(const Value& v) {
    if (v.is_null()) return std::nullopt;
    return v.as_text();
}
static std::optional<int64_t> opt_int(const Value& v) {
    if (v.is_null()) return std::nullopt;
    return v.as_int();
}
static bool as_bool(const Value& v) {
    if (v.kind == Value::Kind::Text) return v.text == "t" || v.text == "true" || v.text == "1";
    return v.as_int() != 0;
}

// ---- queue ----

// Column positions of each own table as the store selects them (pg_cron's
// Anum_* idea): one list of names per table, one enum in the same order.
namespace queue_col {
enum : size_t { update_name, progress_json, depends_on, ordering, count };
}
static const char* const kQueueColumnNames[] = {"update_name", "progress_json", "depends_on", "ordering"};
static_assert(sizeof kQueueColumnNames / sizeof *kQueueColumnNames == queue_col::count, "queue columns");

namespace registry_col {
enum : size_t { update_name, kind, spec_json, owner, search_path, count };
}
static const char* const kRegistryColumnNames[] = {"update_name", "kind", "spec_json", "owner", "search_path"};
static_assert(sizeof kRegistryColumnNames / sizeof *kRegistryColumnNames == registry_col::count, "registry columns");

namespace state_col {
enum : size_t {
    update_name, paused, failed, attempts, total_failures, last_error, next_attempt_at_ms, batches, items_done,
    total_estimate, avg_items, avg_duration_ms, total_duration_ms, batch_size, ordering, depends_on, started_at,
    updated_at, completed_at, hold_reason, hold_until_ms, size_cap, count
};
}
static const char* const kStateColumnNames[] = {
    "update_name", "paused", "failed", "attempts", "total_failures", "last_error", "next_attempt_at_ms", "batches",
    "items_done", "total_estimate", "avg_items", "avg_duration_ms", "total_duration_ms", "batch_size", "ordering",
    "depends_on", "started_at", "updated_at", "completed_at", "hold_reason", "hold_until_ms", "size_cap"};
static_assert(sizeof kStateColumnNames / sizeof *kStateColumnNames == state_col::count, "state columns");

template <size_t N>
static std::string column_list(const char* const (&names)[N]) {
    std::string out;
    for (size_t i = 0; i < N; ++i) out += std::string(i ? ", " : "") + names[i];
    return out;
}

static const std::string kQueueColumns = column_list(kQueueColumnNames);
static const std::string kRegistryColumns = column_list(kRegistryColumnNames);
static const std::string kStateColumns = column_list(kStateColumnNames);

static QueueRow queue_from_row(const Row& r) {
    // A row written before the queue refused them (SQLite keeps 'abc' in an
    // INT column): an error naming it, never read as ordering 0.
    const Value& ordering = r[queue_col::ordering];
    if (ordering.kind != Value::Kind::Integer)
        bad_input("background update '" + r[queue_col::update_name].as_text() + "' has ordering '" +
                  ordering.as_text() + "' in the queue, which is not an integer: correct it with an UPDATE");
    return QueueRow{r[queue_col::update_name].as_text(), r[queue_col::progress_json].as_text(),
                    opt_text(r[queue_col::depends_on]), ordering.integer};
}

std::vector<QueueRow> Store::queue() {
    std::vector<QueueRow> out;
    for (auto& r : engine_.query("SELECT " + kQueueColumns + " FROM " + d_.own(OwnTable::Queue)))
        out.push_back(queue_from_row(r));
    return out;
}

std::optional<QueueRow> Store::queue_row(const std::string& name) {
    auto rows = engine_.query("SELECT " + kQueueColumns + " FROM " + d_.own(OwnTable::Queue) +
                              " WHERE update_name = " + d_.literal(name));
    if (rows.empty()) return std::nullopt;
    return queue_from_row(rows[0]);
}

std::optional<QueueRow> Store::queue_row_locked(const std::string& name) {
    auto rows = engine_.query("SELECT " + kQueueColumns + " FROM " + d_.own(OwnTable::Queue) + " WHERE update_name = " +
                                  d_.placeholder(1) + d_.lock_rows_clause(),
                              {Value::of(name)});
    if (rows.empty()) return std::nullopt;
    return queue_from_row(rows[0]);
}

void Store::enqueue(const QueueRow& row) {
    if (queue_row(row.update_name)) bad_input("background update '" + row.update_name + "' is already queued");
    engine_.exec("INSERT INTO " + d_.own(OwnTable::Queue) + " (" + kQueueColumns + ") VALUES (" +
                 d_.literal(row.update_name) + ", " + d_.literal(row.progress_json) + ", " +
                 (row.depends_on ? d_.literal(*row.depends_on) : "NULL") + ", " + d_.literal(row.ordering) + ")");
}

void Store::save_progress(const std::string& name, const std::string& progress_json) {
    int64_t n = engine_.exec("UPDATE " + d_.own(OwnTable::Queue) + " SET progress_json = " + d_.placeholder(1) +
                                 " WHERE update_name = " + d_.placeholder(2),
                             {Value::of(progress_json), Value::of(name)});
    if (n == 0) bad_input("background update '" + name + "' is not in the queue");
}

bool Store::remove_from_queue(const std::string& name) {
    return engine_.exec("DELETE FROM " + d_.own(OwnTable::Queue) + " WHERE update_name = " + d_.literal(name)) > 0;
}

int64_t Store::queue_size() {
    return engine_.query("SELECT count(*) FROM " + d_.own(OwnTable::Queue))[0][0].as_int();
}

// ---- registry ----

static Registration registration_from_row(const Row& r) {
    using namespace registry_col;
    return Registration{r[update_name].as_text(), handler_kind_from_name(r[kind].as_text()), r[spec_json].as_text(),
                        Identity{r[owner].as_text(), r[search_path].as_text()}};
}

std::optional<Registration> Store::registration(const std::string& name) {
    auto rows = engine_.query("SELECT " + kRegistryColumns + " FROM " + d_.own(OwnTable::Registry) +
                              " WHERE update_name = " + d_.literal(name));
    if (rows.empty()) return std::nullopt;
    return registration_from_row(rows[0]);
}

std::optional<std::string> Store::owner_of(const std::string& name) {
    auto rows = engine_.query(d_.owner_of_sql(name));
    if (rows.empty() || !as_bool(rows[0][0])) return std::nullopt;
    return rows[0][1].is_null() ? std::string() : rows[0][1].as_text();
}

std::vector<Registration> Store::registrations() {
    std::vector<Registration> out;
    for (auto& r : engine_.query("SELECT " + kRegistryColumns + " FROM " + d_.own(OwnTable::Registry)))
        out.push_back(registration_from_row(r));
    return out;
}

void Store::save_registration(const Registration& reg) {
    engine_.exec("INSERT INTO " + d_.own(OwnTable::Registry) + " (" + kRegistryColumns + ", registered_at) VALUES (" +
                 d_.literal(reg.update_name) + ", " + d_.literal(handler_kind_name(reg.kind)) + ", " +
                 d_.literal(reg.spec_json) + ", " + d_.literal(reg.identity.owner) + ", " +
                 d_.literal(reg.identity.search_path) + ", " + d_.literal(iso_timestamp_now()) +
                 ") ON CONFLICT (update_name) DO UPDATE SET kind = excluded.kind, spec_json = excluded.spec_json,"
                 " owner = excluded.owner, search_path = excluded.search_path, registered_at = excluded.registered_at");
}

void Store::forget(const std::string& name) {
    engine_.exec("DELETE FROM " + d_.own(OwnTable::Registry) + " WHERE update_name = " + d_.literal(name));
    engine_.exec("DELETE FROM " + d_.own(OwnTable::State) + " WHERE update_name = " + d_.literal(name));
    engine_.exec("UPDATE " + d_.own(OwnTable::Queue) + " SET progress_json = '{}' WHERE update_name = " + d_.literal(name));
}

// ---- state ----

UpdateState Store::state_from_row(const Row& r) {
    namespace c = state_col;
    UpdateState st;
    st.exists = true;
    st.update_name = r[c::update_name].as_text();
    st.paused = as_bool(r[c::paused]);
    st.failed = as_bool(r[c::failed]);
    st.attempts = r[c::attempts].as_int();
    st.total_failures = r[c::total_failures].as_int();
    st.last_error = opt_text(r[c::last_error]);
    st.next_attempt_at_ms = r[c::next_attempt_at_ms].as_int();
    st.batches = r[c::batches].as_int();
    st.perf.total_items = r[c::items_done].as_int();
    st.total_estimate = opt_int(r[c::total_estimate]);
    st.perf.avg_items = r[c::avg_items].as_real();
    st.perf.avg_duration_ms = r[c::avg_duration_ms].as_real();
    st.perf.total_duration_ms = r[c::total_duration_ms].as_real();
    st.batch_size = opt_int(r[c::batch_size]);
    st.ordering = opt_int(r[c::ordering]);
    st.depends_on = opt_text(r[c::depends_on]);
    st.started_at = opt_text(r[c::started_at]);
    st.updated_at = opt_text(r[c::updated_at]);
    st.completed_at = opt_text(r[c::completed_at]);
    st.hold_reason = opt_text(r[c::hold_reason]);
    st.hold_until_ms = r[c::hold_until_ms].as_int();
    st.size_cap = opt_int(r[c::size_cap]);
    return st;
}

UpdateState Store::state(const std::string& name) {
    auto rows = engine_.query("SELECT " + kStateColumns + " FROM " + d_.own(OwnTable::State) +
                              " WHERE update_name = " + d_.literal(name));
    if (!rows.empty()) return state_from_row(rows[0]);
    UpdateState st;
    st.update_name = name;
    return st;
}

UpdateState Store::state_locked(const std::string& name) {
    auto rows = engine_.query("SELECT " + kStateColumns + " FROM " + d_.own(OwnTable::State) + " WHERE update_name = " +
                                  d_.placeholder(1) + d_.lock_rows_clause(),
                              {Value::of(name)});
    if (!rows.empty()) return state_from_row(rows[0]);
    UpdateState st;
    st.update_name = name;
    return st;
}

std::vector<UpdateState> Store::states() {
    std::vector<UpdateState> out;
    for (auto& r : engine_.query("SELECT " + kStateColumns + " FROM " + d_.own(OwnTable::State)))
        out.push_back(state_from_row(r));
    return out;
}

void Store::save_state(const UpdateState& st) {
    // Written after every batch: bound values, so the statement is prepared
    // once. Booleans stay literals (a bound integer is no boolean on PostgreSQL).
    BoundValues b(d_);
    auto opt = [&](const std::optional<std::string>& v) { return b.add(v ? Value::of(*v) : Value::null()); };
    auto opti = [&](const std::optional<int64_t>& v) { return b.add(v ? Value::of(*v) : Value::null()); };
    auto real = [&](double v) { return b.add(Value::of_real(v)); };
    std::string values = b.add(st.update_name) + ", " + d_.boolean(st.paused) + ", " + d_.boolean(st.failed) + ", ";
    values += b.add(st.attempts) + ", " + b.add(st.total_failures) + ", ";
    values += opt(st.last_error) + ", ";
    values += b.add(st.next_attempt_at_ms) + ", ";
    values += b.add(st.batches) + ", ";
    values += b.add(st.perf.total_items) + ", ";
    values += opti(st.total_estimate) + ", ";
    values += real(st.perf.avg_items) + ", ";
    values += real(st.perf.avg_duration_ms) + ", ";
    values += real(st.perf.total_duration_ms) + ", ";
    values += opti(st.batch_size) + ", ";
    values += opti(st.ordering) + ", ";
    values += opt(st.depends_on) + ", ";
    values += opt(st.started_at) + ", ";
    values += opt(st.updated_at) + ", ";
    values += opt(st.completed_at) + ", ";
    values += opt(st.hold_reason) + ", ";
    values += b.add(st.hold_until_ms) + ", ";
    values += opti(st.size_cap);
    // Every column but the key is overwritten on conflict (computed once),
    // except `paused`: only pause() and resume() change it (change_state), and
    // a runner writing back the state it read must not undo one of them.
    static const std::string set = [] {
        std::string out;
        for (size_t i = state_col::update_name + 1; i < state_col::count; ++i) {
            if (i == state_col::paused) continue;
            out += std::string(out.empty() ? "" : ", ") + kStateColumnNames[i] + " = excluded." + kStateColumnNames[i];
        }
        return out;
    }();
    engine_.exec("INSERT INTO " + d_.own(OwnTable::State) + " (" + kStateColumns + ") VALUES (" + values +
                     ") ON CONFLICT (update_name) DO UPDATE SET " + set,
                 b.values());
}

void Store::change_state(const std::string& name, const std::vector<StateChange>& changes) {
    std::vector<std::pair<std::string, std::string>> columns;
    for (StateChange c : changes) switch (c) {
        case StateChange::Pause: columns.emplace_back("paused", d_.boolean(true)); break;
        case StateChange::Unpause: columns.emplace_back("paused", d_.boolean(false)); break;
        case StateChange::Unfail:
            columns.emplace_back("failed", d_.boolean(false));
            columns.emplace_back("attempts", "0");
            break;
        case StateChange::EndBackoff: columns.emplace_back("next_attempt_at_ms", "0"); break;
        case StateChange::EndHold: columns.emplace_back("hold_until_ms", "0"); break;
    }
    std::string names = "update_name", values = d_.literal(name), set;
    for (auto& [column, value] : columns) {
        names += ", " + column;
        values += ", " + value;
        set += (set.empty() ? "" : ", ") + column + " = excluded." + column;
    }
    engine_.exec("INSERT INTO " + d_.own(OwnTable::State) + " (" + names + ") VALUES (" + values +
                 ") ON CONFLICT (update_name) DO UPDATE SET " + set);
}

void Store::add_history(const std::string& name, const std::string& event, const UpdateState& st,
                        const std::string& detail) {
    engine_.exec("INSERT INTO " + d_.own(OwnTable::History) +
                 " (update_name, event, batches, items, duration_ms, detail, at) VALUES (" + d_.literal(name) + ", " +
                 d_.literal(event) + ", " + std::to_string(st.batches) + ", " + std::to_string(st.perf.total_items) +
                 ", " + Value::of_real(st.perf.total_duration_ms).as_text() + ", " +
                 (detail.empty() ? "NULL" : d_.literal(detail)) + ", " + d_.literal(iso_timestamp_now()) + ")");
}

void Store::add_batch_record(const std::string& name, int64_t batch_number, int64_t items, double duration_ms,
                             const std::string& detail_json) {
    const std::string history = d_.own(OwnTable::History);
    BoundValues b(d_);
    engine_.exec("INSERT INTO " + history + " (update_name, event, batches, items, duration_ms, detail, at) VALUES (" +
                     b.add(name) + ", 'batch', " + b.add(batch_number) + ", " + b.add(items) + ", " +
                     b.add(Value::of_real(duration_ms)) + ", " + b.add(detail_json) + ", " + b.add(iso_timestamp_now()) +
                     ")",
                 b.values());
    // Bounded: prune now and then (not every batch), keeping the newest rows.
    if (batch_number % 100 != 0) return;
    // PostgreSQL: a role may delete history rows only from 1.1 on (and the
    // worker, as superuser, always): without the privilege, leave it to them.
    if (!engine_.may_delete_from(history)) return;
    std::string mine = "update_name = " + d_.literal(name) + " AND event = 'batch'";
    engine_.exec("DELETE FROM " + history + " WHERE " + mine + " AND id <= (SELECT id FROM " + history + " WHERE " +
                 mine + " ORDER BY id DESC LIMIT 1 OFFSET " + std::to_string(kHistoryBatchRowsKept) + ")");
}

int64_t Store::consecutive_stalled_batches(const std::string& name, int64_t limit) {
    auto rows = engine_.query("SELECT items, detail FROM " + d_.own(OwnTable::History) + " WHERE update_name = " +
                              d_.literal(name) + " AND event = 'batch' ORDER BY id DESC LIMIT " + std::to_string(limit));
    int64_t n = 0;
    for (auto& r : rows) {
        if (r[0].as_int() != 0 || r[1].is_null()) break;
        try {
            Json d = Json::parse_object(r[1].as_text(), "history detail");
            Json to = d.at("to");
            if (to.is_null() || d.at("from").dump() != to.dump()) break;
        } catch (const Error&) {
            break;
        }
        ++n;
    }
    return n;
}

std::vector<std::string> Store::table_columns(const std::string& table) {
    std::vector<std::string> out;
    for (auto& r : engine_.query(d_.columns_of_table_sql(table))) out.push_back(r[0].as_text());
    return out;
}

std::vector<std::pair<OwnTable, std::vector<std::string>>> columns_the_store_reads() {
    auto names = [](auto& list) { return std::vector<std::string>(std::begin(list), std::end(list)); };
    return {{OwnTable::Queue, names(kQueueColumnNames)},
            {OwnTable::Registry, names(kRegistryColumnNames)},
            {OwnTable::State, names(kStateColumnNames)}};
}

}  // namespace bgupdate
