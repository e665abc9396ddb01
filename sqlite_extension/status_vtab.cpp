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

// CREATE TABLE x(update_name TEXT, ...) from the status columns' table.
std::string schema() {
    std::string out = "CREATE TABLE x(";
    for (int i = 0; i < bgupdate::sql::kStatusColumnCount; ++i) {
        const bgupdate::sql::Column& c = bgupdate::sql::kStatusColumns[i];
        if (i > 0) out += ", ";
        out += c.name;
        switch (c.type) {
            case bgupdate::sql::Type::BigInt:
            case bgupdate::sql::Type::Boolean: out += " INTEGER"; break;
            case bgupdate::sql::Type::Real: out += " REAL"; break;
            default: out += " TEXT"; break;
        }
    }
    return out + ")";
}

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
    int rc = sqlite3_declare_vtab(db, schema().c_str());
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

int x_column(sqlite3_vtab_cursor* cur, sqlite3_context* ctx, int col) {
    auto* c = reinterpret_cast<StatusCursor*>(cur);
    bgupdate::StatusCell cell = bgupdate::status_cell(c->rows[c->pos], col);
    if (cell.is_null) {
        sqlite3_result_null(ctx);
    } else if (cell.text) {
        sqlite3_result_text(ctx, cell.text->data(), static_cast<int>(cell.text->size()), SQLITE_TRANSIENT);
    } else if (cell.type == bgupdate::sql::Type::Real) {
        sqlite3_result_double(ctx, cell.real);
    } else if (cell.type == bgupdate::sql::Type::Boolean) {
        sqlite3_result_int(ctx, static_cast<int>(cell.integer));
    } else {
        sqlite3_result_int64(ctx, cell.integer);
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
