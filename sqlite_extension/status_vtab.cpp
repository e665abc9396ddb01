// The eponymous table-valued function bgupdate_status: one row per known
// update (Api::status), columns named as StatusRow's fields.
//   SELECT update_name, state, percent, eta_seconds FROM bgupdate_status;
#include "status_vtab.h"

#include <new>
#include <string>
#include <vector>

#include "status.h"

namespace bgupdate_sqlite {

namespace {

const char* const kSchema =
    "CREATE TABLE x(update_name TEXT, state TEXT, ordering INTEGER, depends_on TEXT, batches INTEGER, "
    "items_done INTEGER, total_estimate INTEGER, percent REAL, avg_items_per_ms REAL, "
    "total_items_per_ms REAL, batch_size INTEGER, eta_seconds REAL, attempts INTEGER, last_error TEXT, "
    "started_at TEXT, updated_at TEXT, completed_at TEXT, hold_reason TEXT, hold_until TEXT, estimate_is_rough INTEGER)";

struct StatusVtab {
    sqlite3_vtab base;  // first: SQLite casts between the two
    Connection* conn;
};

struct StatusCursor {
    sqlite3_vtab_cursor base;
    std::vector<bgupdate::StatusRow> rows;
    size_t pos = 0;
};

int x_connect(sqlite3* db, void* aux, int, const char* const*, sqlite3_vtab** out, char** err) {
    int rc = sqlite3_declare_vtab(db, kSchema);
    if (rc != SQLITE_OK) return rc;
    auto* v = new (std::nothrow) StatusVtab();
    if (!v) return SQLITE_NOMEM;
    v->conn = static_cast<Connection*>(aux);
    sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
    *out = &v->base;
    (void)err;
    return SQLITE_OK;
}

int x_disconnect(sqlite3_vtab* vt) {
    delete reinterpret_cast<StatusVtab*>(vt);
    return SQLITE_OK;
}

int x_best_index(sqlite3_vtab*, sqlite3_index_info* info) {
    info->estimatedCost = 100;
    info->estimatedRows = 100;
    return SQLITE_OK;
}

int x_open(sqlite3_vtab*, sqlite3_vtab_cursor** out) {
    auto* c = new (std::nothrow) StatusCursor();
    if (!c) return SQLITE_NOMEM;
    *out = &c->base;
    return SQLITE_OK;
}

int x_close(sqlite3_vtab_cursor* cur) {
    delete reinterpret_cast<StatusCursor*>(cur);
    return SQLITE_OK;
}

int x_filter(sqlite3_vtab_cursor* cur, int, const char*, int, sqlite3_value**) {
    auto* c = reinterpret_cast<StatusCursor*>(cur);
    auto* vt = reinterpret_cast<StatusVtab*>(cur->pVtab);
    c->rows.clear();
    c->pos = 0;
    try {
        vt->conn->api.ensure_schema();
        c->rows = vt->conn->api.status();
    } catch (const std::exception& e) {
        sqlite3_free(vt->base.zErrMsg);
        vt->base.zErrMsg = sqlite3_mprintf("bgupdate_status: %s", e.what());
        return SQLITE_ERROR;
    }
    return SQLITE_OK;
}

int x_next(sqlite3_vtab_cursor* cur) {
    ++reinterpret_cast<StatusCursor*>(cur)->pos;
    return SQLITE_OK;
}

int x_eof(sqlite3_vtab_cursor* cur) {
    auto* c = reinterpret_cast<StatusCursor*>(cur);
    return c->pos >= c->rows.size();
}

void put(sqlite3_context* ctx, const std::string& s) {
    sqlite3_result_text(ctx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}
void put(sqlite3_context* ctx, const std::optional<std::string>& s) {
    if (s) put(ctx, *s); else sqlite3_result_null(ctx);
}
void put(sqlite3_context* ctx, const std::optional<int64_t>& v) {
    if (v) sqlite3_result_int64(ctx, *v); else sqlite3_result_null(ctx);
}
void put(sqlite3_context* ctx, const std::optional<double>& v) {
    if (v) sqlite3_result_double(ctx, *v); else sqlite3_result_null(ctx);
}

int x_column(sqlite3_vtab_cursor* cur, sqlite3_context* ctx, int col) {
    auto* c = reinterpret_cast<StatusCursor*>(cur);
    const bgupdate::StatusRow& r = c->rows[c->pos];
    switch (col) {
        case bgupdate::kStatusUpdateName: put(ctx, r.update_name); break;
        case bgupdate::kStatusState: put(ctx, r.state); break;
        case bgupdate::kStatusOrdering: put(ctx, r.ordering); break;
        case bgupdate::kStatusDependsOn: put(ctx, r.depends_on); break;
        case bgupdate::kStatusBatches: sqlite3_result_int64(ctx, r.batches); break;
        case bgupdate::kStatusItemsDone: sqlite3_result_int64(ctx, r.items_done); break;
        case bgupdate::kStatusTotalEstimate: put(ctx, r.total_estimate); break;
        case bgupdate::kStatusPercent: put(ctx, r.percent); break;
        case bgupdate::kStatusAvgItemsPerMs: put(ctx, r.avg_items_per_ms); break;
        case bgupdate::kStatusTotalItemsPerMs: put(ctx, r.total_items_per_ms); break;
        case bgupdate::kStatusBatchSize: put(ctx, r.batch_size); break;
        case bgupdate::kStatusEtaSeconds: put(ctx, r.eta_seconds); break;
        case bgupdate::kStatusAttempts: sqlite3_result_int64(ctx, r.attempts); break;
        case bgupdate::kStatusLastError: put(ctx, r.last_error); break;
        case bgupdate::kStatusStartedAt: put(ctx, r.started_at); break;
        case bgupdate::kStatusUpdatedAt: put(ctx, r.updated_at); break;
        case bgupdate::kStatusCompletedAt: put(ctx, r.completed_at); break;
        case bgupdate::kStatusHoldReason: put(ctx, r.hold_reason); break;
        case bgupdate::kStatusHoldUntil: put(ctx, r.hold_until); break;
        case bgupdate::kStatusEstimateIsRough: sqlite3_result_int(ctx, r.estimate_is_rough ? 1 : 0); break;
        default: sqlite3_result_null(ctx); break;
    }
    return SQLITE_OK;
}

int x_rowid(sqlite3_vtab_cursor* cur, sqlite_int64* rowid) {
    *rowid = static_cast<sqlite_int64>(reinterpret_cast<StatusCursor*>(cur)->pos) + 1;
    return SQLITE_OK;
}

sqlite3_module make_module() {
    sqlite3_module m{};
    m.iVersion = 0;
    m.xCreate = nullptr;  // eponymous only: no CREATE VIRTUAL TABLE
    m.xConnect = x_connect;
    m.xBestIndex = x_best_index;
    m.xDisconnect = x_disconnect;
    m.xDestroy = x_disconnect;
    m.xOpen = x_open;
    m.xClose = x_close;
    m.xFilter = x_filter;
    m.xNext = x_next;
    m.xEof = x_eof;
    m.xColumn = x_column;
    m.xRowid = x_rowid;
    return m;
}

const sqlite3_module kModule = make_module();

}  // namespace

int register_status_table(Connection* conn) {
    conn->add_ref();
    // On failure SQLite calls the destructor itself.
    return sqlite3_create_module_v2(conn->db, "bgupdate_status", &kModule, conn, Connection::release);
}

}  // namespace bgupdate_sqlite
