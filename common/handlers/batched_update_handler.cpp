// Declarative backfill (GitLab batched migrations, pgroll): UPDATE the table
// over consecutive key ranges of batch_size rows, with an optional filter.
// Progress: {"lower_bound": [last key done]}, plus "max_key" when the key
// range is fixed (key_range.h). On a partitioned table it works partition by
// partition, side by side (partitioned_scan.h).
#include "../dialect.h"
#include "../fragment_check.h"
#include "../partitions.h"
#include "handler.h"
#include "key_range.h"
#include "keyset.h"
#include "partitioned_scan.h"
#include "../errors.h"
#include "../registration.h"
#include "../sql_arguments.h"

namespace bgupdate {
namespace {

class BatchedUpdateHandler : public Handler {
public:
    explicit BatchedUpdateHandler(const Json& spec)
        : table_(spec_string(spec, "table")),
          keys_(spec_string_list(spec, "key_columns")),
          set_clause_(spec_string(spec, "set_clause")),
          where_(spec_optional_string(spec, "where_clause").value_or("")),
          range_(KeyRangeSpec::from_spec(spec)),
          scan_(table_, keys_, range_) {}

    int64_t run_batch(BatchContext& ctx) override {
        // Checked at registration; again before every batch, lexically and by
        // the engine's parser (never run), for registry rows written another way.
        check_stored_fragment(ctx.engine, FragmentKind::SetList, table_, set_clause_, "set_clause of '" + ctx.update_name + "'");
        if (!where_.empty())
            check_stored_fragment(ctx.engine, FragmentKind::Condition, table_, where_, "where_clause of '" + ctx.update_name + "'");
        auto complete = [&](Json&) {
            ctx.complete();
            return true;
        };
        if (PartitionedScan::in_partitions(ctx))
            return scan_.run(ctx, [&](const PartitionNode&, const KeysetScope& scope, const Json& entry) {
                return update_partition(ctx, scope, entry);
            }, complete);
        // The first batch: a partitioned table is listed, partition by partition.
        if (ctx.progress.at("lower_bound").is_null())
            if (auto planned = scan_.plan(ctx, ctx.progress, complete)) return *planned;
        return update_whole(ctx);
    }

    std::optional<int64_t> estimate_total(Engine& engine) override { return table_rows(engine, table_); }
    bool estimate_is_rough(Engine& engine) override { return !table_has_statistics(engine, table_); }

private:
    std::string update_sql(const std::string& from, const std::string& range) const {
        return "UPDATE " + from + " SET " + compose_set_list(set_clause_) + "WHERE " + range +
               (where_.empty() ? "" : " AND " + compose_condition(where_));
    }

    int64_t update_whole(BatchContext& ctx) {
        const Dialect& d = ctx.engine.dialect();
        const std::string what = "progress lower_bound of '" + ctx.update_name + "'";
        Json p = ctx.progress.deep_copy();
        std::optional<Row> lower;
        Json bound = p.at("lower_bound");
        if (!bound.is_null()) lower = json_to_values(bound, what);
        // A fixed range ends where the table ended when the update started.
        if (!capture_range_end(ctx.engine, range_, d.table(table_), keys_, p)) {
            ctx.complete();  // the table was empty: nothing is in the range
            return 0;
        }
        KeysetScope scope{d.table(table_), range_.min_key, range_end(range_, p, ctx.update_name)};
        if (!lower && (range_.fixed || range_.min_key))
            ctx.total_estimate = rows_in_range(ctx.engine, scope.from, scope, keys_);
        KeysetBatch batch = next_keyset_batch(ctx.engine, scope, keys_, lower, ctx.batch_size, what);
        int64_t changed = ctx.engine.exec(update_sql(scope.from, batch.range), batch.params);
        if (!batch.upper) {
            ctx.complete();
            return changed;
        }
        p.set("lower_bound", values_to_json(*batch.upper));
        ctx.save_progress(p);
        return ctx.batch_size;  // rows covered, matching the filter or not: what the batch cost
    }

    PartitionStep update_partition(BatchContext& ctx, const KeysetScope& scope, const Json& entry) {
        const std::string what = "progress lower_bound of '" + ctx.update_name + "' in partition " + ctx.partition;
        std::optional<Row> lower;
        if (!entry.at("lower_bound").is_null()) lower = json_to_values(entry.at("lower_bound"), what);
        KeysetBatch batch = next_keyset_batch(ctx.engine, scope, keys_, lower, ctx.batch_size, what);
        int64_t changed = ctx.engine.exec(update_sql(scope.from, batch.range), batch.params);
        PartitionStep step;
        step.entry = entry.deep_copy();
        if (!batch.upper) {
            step.entry.set_bool("done", true);
            step.items = changed;
        } else {
            step.entry.set("lower_bound", values_to_json(*batch.upper));
            step.items = ctx.batch_size;
        }
        return step;
    }

    std::string table_;
    std::vector<std::string> keys_;
    std::string set_clause_, where_;
    KeyRangeSpec range_;
    PartitionedScan scan_;
};

}  // namespace

std::unique_ptr<Handler> make_batched_update_handler(const Json& spec) {
    return std::make_unique<BatchedUpdateHandler>(spec);
}


// ---- registration (register_batched_update)

void register_batched_update(Registrar& r, const BatchedUpdateArgs& a) {
    Registrar::require_name(a.update_name, "update_name");
    if (a.key_columns.empty()) bad_input("key_columns must name at least one column");
    r.require_columns(a.table, a.key_columns, "key column");
    r.require_unique_key(a.table, a.key_columns, "key_columns of '" + a.update_name + "'");
    if (a.set_clause.find_first_not_of(" \t\r\n") == std::string::npos) bad_input("set_clause must not be empty");
    if (a.where_clause && a.where_clause->find_first_not_of(" \t\r\n") == std::string::npos)
        bad_input("where_clause must be NULL or a condition");
    // Parsed, never executed: a typo is an error now rather than a failure in
    // the background later, and nothing but one SET list / one condition passes.
    r.require_fragment(FragmentKind::SetList, a.table, a.set_clause, "set_clause of '" + a.update_name + "'");
    if (a.where_clause)
        r.require_fragment(FragmentKind::Condition, a.table, *a.where_clause, "where_clause of '" + a.update_name + "'");
    Json spec = Json::object();
    spec.set("table", a.table);
    spec.set("key_columns", string_array(a.key_columns));
    spec.set("set_clause", a.set_clause);
    if (a.where_clause) spec.set("where_clause", *a.where_clause);
    r.pin_table(spec, a.table);
    KeyRangeSpec::store(spec, a.range.fixed, a.range.min_key, a.range.max_key, a.key_columns, a.update_name);
    r.save(a.update_name, HandlerKind::BatchedUpdate, spec);
}

void register_batched_update(Registrar& r, const RegistrationArguments& args) {
    register_batched_update(r, batched_update_args(args));
}

}  // namespace bgupdate
