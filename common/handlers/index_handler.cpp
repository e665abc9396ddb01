// Synapse's register_background_index_update. PostgreSQL: drop a half-built
// (INVALID) leftover, CREATE INDEX CONCURRENTLY outside any transaction, then
// drop the index it replaces. SQLite: CREATE INDEX IF NOT EXISTS; psql_only
// updates complete without building. A partitioned table (PostgreSQL) is
// built partition by partition (partitioned_index.h).
#include "../dialect.h"
#include "../fragment_check.h"
#include "handler.h"
#include "partitioned_index.h"
#include "../partitioned_registration.h"
#include "../errors.h"
#include "../registration.h"
#include "../sql_arguments.h"

namespace bgupdate {
namespace {

class IndexHandler : public Handler {
public:
    explicit IndexHandler(const Json& spec)
        : index_(spec_string(spec, "index_name")),
          table_(spec_string(spec, "table")),
          columns_(spec_string_list(spec, "columns")),
          where_(spec_optional_string(spec, "where_clause")),
          replaces_(spec_optional_string(spec, "replaces_index")),
          unique_(spec.at("is_unique").is_true()),
          psql_only_(spec.at("psql_only").is_true()) {}

    int64_t run_batch(BatchContext& ctx) override {
        const Dialect& d = ctx.engine.dialect();
        if (d.is_sqlite() && psql_only_) {
            ctx.complete();
            return 0;
        }
        if (where_)
            check_stored_fragment(ctx.engine, FragmentKind::IndexPredicate, table_, *where_,
                                  "where_clause of '" + ctx.update_name + "'");
        auto tree = ctx.engine.partition_tree(table_);
        if (!tree.empty())
            return build_partitioned_index(ctx, IndexDefinition{index_, table_, columns_, where_, replaces_, unique_}, tree);
        std::vector<std::string> cols;
        for (auto& c : columns_) cols.push_back(d.ident(c));
        std::string index = d.schema_prefix_of(table_) + d.ident(index_);
        std::string create = std::string("CREATE ") + (unique_ ? "UNIQUE " : "") + "INDEX " + d.concurrently() +
                             "IF NOT EXISTS " + d.ident(index_) + " ON " + d.table(table_) + " (" + join(cols, ", ") +
                             ")" + (where_ ? " WHERE " + compose_condition(*where_) : "");
        if (d.concurrent_index_builds()) {
            // A failed CONCURRENTLY build leaves an INVALID index that IF NOT EXISTS would keep.
            auto rows = ctx.engine.query(d.index_validity_sql(index));
            if (!rows.empty() && rows[0][0].as_text() != "t" && rows[0][0].as_text() != "true") {
                note_rebuild(ctx);  // committed with the DROP's transaction boundary, before the rebuild
                ctx.engine.exec_outside_transaction("DROP INDEX CONCURRENTLY IF EXISTS " + index);
            }
            ctx.engine.exec_outside_transaction(create);
            if (replaces_)
                ctx.engine.exec_outside_transaction("DROP INDEX CONCURRENTLY IF EXISTS " + d.schema_prefix_of(table_) +
                                                    d.ident(*replaces_));
        } else {
            ctx.engine.exec(create);
            if (replaces_) ctx.engine.exec("DROP INDEX IF EXISTS " + d.ident(*replaces_));
        }
        ctx.complete();
        return 1;
    }

    // A plain table: one item. A partitioned one: each leaf's build and each
    // partition's attachment.
    std::optional<int64_t> estimate_total(Engine& engine) override {
        int64_t steps = 0;
        for (auto& n : engine.partition_tree(table_)) steps += (n.leaf ? 1 : 0) + (n.level > 0 ? 1 : 0);
        return steps > 0 ? steps : 1;
    }

private:
    // Says what happened where status and history show it: last_error while
    // the index is rebuilt (the completed batch clears it), a `rebuild` row in
    // the history for good, and the worker's log.
    void note_rebuild(BatchContext& ctx) {
        std::string note = "the index " + index_ + " was left invalid by a CREATE INDEX CONCURRENTLY that did not "
                           "finish (a crash, a failover, a cancel or an error): dropped it and building it again";
        UpdateState st = ctx.store.state(ctx.update_name);
        st.update_name = ctx.update_name;
        st.last_error = note;
        ctx.store.save_state(st);
        ctx.store.add_history(ctx.update_name, "rebuild", st, note);
        ctx.engine.log_event("background update '" + ctx.update_name + "': " + note);
    }

    std::string index_, table_;
    std::vector<std::string> columns_;
    std::optional<std::string> where_, replaces_;
    bool unique_, psql_only_;
};

}  // namespace

std::unique_ptr<Handler> make_index_handler(const Json& spec) { return std::make_unique<IndexHandler>(spec); }


// ---- registration (register_index_update)

void register_index_update(Registrar& r, const RegistrationArguments& args) {
    IndexUpdateArgs a = index_update_args(args);
    Engine& engine = r.engine();
    Registrar::require_name(a.update_name, "update_name");
    Registrar::require_name(a.index_name, "index_name");
    if (a.columns.empty()) bad_input("columns must name at least one column");
    // psql_only indexes are never built on SQLite: their columns may be PostgreSQL-only.
    if (!(a.psql_only && engine.dialect().is_sqlite())) r.require_columns(a.table, a.columns, "index column");
    if (a.where_clause && a.where_clause->empty()) bad_input("where_clause must be NULL or a condition");
    // Checked like every fragment, except where it is never run (psql_only on SQLite).
    if (a.where_clause && !(a.psql_only && engine.dialect().is_sqlite()))
        r.require_fragment(FragmentKind::IndexPredicate, a.table, *a.where_clause, "where_clause of '" + a.update_name + "'");
    if (a.replaces_index) Registrar::require_name(*a.replaces_index, "replaces_index");
    if (a.is_unique) require_unique_index_fits_partitions(engine, a);
    Json spec = Json::object();
    spec.set("index_name", a.index_name);
    spec.set("table", a.table);
    spec.set("columns", string_array(a.columns));
    if (a.where_clause) spec.set("where_clause", *a.where_clause);
    spec.set_bool("is_unique", a.is_unique);
    spec.set_bool("psql_only", a.psql_only);
    if (a.replaces_index) spec.set("replaces_index", *a.replaces_index);
    if (!(a.psql_only && engine.dialect().is_sqlite())) r.pin_table(spec, a.table);
    r.save(a.update_name, HandlerKind::Index, spec);
}

}  // namespace bgupdate
