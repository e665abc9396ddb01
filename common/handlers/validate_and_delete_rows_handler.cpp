// Synapse's validate_constraint_and_delete_rows: scan the table in key order
// in batches, deleting rows that break the constraint ("check"), then
// validate it ("validate"). If validation still finds a bad row (one slipped
// in before the constraint existed), scan again from the start.
// Progress: {"state": "check"|"validate", "lower_bound": [...]}, plus
// "max_key" when the key range is fixed (key_range.h). On a partitioned
// table the check runs partition by partition, side by side
// (partitioned_scan.h), each partition validated once scanned (a bad row
// found then rescans that partition only); the last step validates the
// constraint on the table itself, which then scans nothing.
#include "../constraint.h"
#include "../dialect.h"
#include "../errors.h"
#include "../partitions.h"
#include "handler.h"
#include "key_range.h"
#include "keyset.h"
#include "partitioned_scan.h"
#include "../registration.h"
#include "../sql_arguments.h"

namespace bgupdate {
namespace {

class ValidateAndDeleteRowsHandler : public Handler {
public:
    explicit ValidateAndDeleteRowsHandler(const Json& spec)
        : table_(spec_string(spec, "table")),
          constraint_name_(spec_string(spec, "constraint_name")),
          constraint_(Constraint::parse(spec.at("constraint").dump())),
          keys_(spec_string_list(spec, "unique_columns")),
          range_(KeyRangeSpec::from_spec(spec)),
          scan_(table_, keys_, range_) {}

    int64_t run_batch(BatchContext& ctx) override {
        auto state = ctx.progress.get_string("state").value_or("check");
        if (state == "validate") return validate(ctx);
        if (state != "check")
            bad_input("progress of '" + ctx.update_name + "' has state '" + state + "' (expected check or validate)");
        auto to_validate = [](Json& p) {
            p.set("state", "validate");
            return false;
        };
        if (PartitionedScan::in_partitions(ctx))
            return scan_.run(ctx, [&](const PartitionNode& leaf, const KeysetScope& scope, const Json& entry) {
                return check_partition(ctx, leaf, scope, entry);
            }, to_validate);
        if (ctx.progress.at("lower_bound").is_null()) {
            Json base = Json::object();
            base.set("state", "check");
            if (auto planned = scan_.plan(ctx, base, to_validate)) return *planned;
        }
        return check(ctx);
    }

    std::optional<int64_t> estimate_total(Engine& engine) override { return table_rows(engine, table_); }
    bool estimate_is_rough(Engine& engine) override { return !table_has_statistics(engine, table_); }

private:
    // A range given at registration does not cover the whole table: a bad
    // row outside it would make every rescan of the range fail again.
    bool bounds_given() const { return range_.min_key || range_.max_key; }

    std::string delete_sql(const Dialect& d, const std::string& from, const std::string& alias,
                           const std::string& range) const {
        return "DELETE FROM " + from + " WHERE " + range + " AND NOT (" + constraint_.row_check(d, alias) + ")";
    }

    int64_t check(BatchContext& ctx) {
        const Dialect& d = ctx.engine.dialect();
        const std::string what = "progress lower_bound of '" + ctx.update_name + "'";
        std::optional<Row> lower;
        Json bound = ctx.progress.at("lower_bound");
        if (!bound.is_null()) lower = json_to_values(bound, what);
        Json p = Json::object();
        p.set("state", "check");
        if (!ctx.progress.at("max_key").is_null()) p.set("max_key", ctx.progress.at("max_key"));
        if (!capture_range_end(ctx.engine, range_, d.table(table_), keys_, p)) {
            p = Json::object();  // an empty table: nothing to delete
            p.set("state", "validate");
            ctx.save_progress(p);
            return 0;
        }
        KeysetScope scope{d.table(table_), range_.min_key, range_end(range_, p, ctx.update_name)};
        if (!lower && (range_.fixed || range_.min_key))
            ctx.total_estimate = rows_in_range(ctx.engine, scope.from, scope, keys_);
        KeysetBatch batch = next_keyset_batch(ctx.engine, scope, keys_, lower, ctx.batch_size, what);
        ctx.engine.exec(delete_sql(d, scope.from, table_, batch.range), batch.params);
        if (batch.upper) {
            p.set("lower_bound", values_to_json(*batch.upper));
            ctx.save_progress(p);
            return ctx.batch_size;
        }
        p.set("state", "validate");
        ctx.save_progress(p);
        return ctx.engine.query("SELECT count(*) FROM " + scope.from + " WHERE " + batch.range, batch.params)[0][0].as_int();
    }

    // One batch of one partition: a keyset batch of the check, or, once the
    // partition is scanned, its validation (PostgreSQL validates a CHECK
    // constraint partition by partition; the table's own VALIDATE then skips
    // partitions already validated).
    PartitionStep check_partition(BatchContext& ctx, const PartitionNode& leaf, const KeysetScope& scope,
                                  const Json& entry) {
        const Dialect& d = ctx.engine.dialect();
        PartitionStep step;
        step.entry = entry.deep_copy();
        if (entry.at("scanned").is_true()) {
            std::string quoted = quoted_relation(d, leaf);
            // Engines without NOT VALID constraints (SQLite) have nothing to validate.
            std::string sql = d.constraint_validated_sql(quoted, constraint_name_);
            auto rows = sql.empty() ? Rows{} : ctx.engine.query(sql);
            bool needs = !rows.empty() && !(rows[0][0].as_text() == "t" || rows[0][0].as_text() == "true");
            if (needs) {
                try {
                    ctx.engine.exec("ALTER TABLE " + quoted + " VALIDATE CONSTRAINT " + d.ident(constraint_name_));
                } catch (const Error& e) {
                    if (e.kind() != ErrorKind::Integrity) throw;
                    if (bounds_given()) throw_outside_range(ctx, e);
                    // Only this batch's statement failed: scan this partition again.
                    Json again = Json::object();
                    again.set("rescans", entry.at("rescans").as_integer().value_or(0) + 1);
                    again.set("last_rescan_reason", std::string(e.what()));
                    ctx.engine.log_event("background update '" + ctx.update_name + "': validating " +
                                         constraint_name_ + " on partition " + ctx.partition +
                                         " found rows breaking it; scanning that partition again: " + e.what());
                    step.entry = again;
                    return step;
                }
            }
            step.entry.set_bool("done", true);
            return step;
        }
        const std::string what = "progress lower_bound of '" + ctx.update_name + "' in partition " + ctx.partition;
        std::optional<Row> lower;
        if (!entry.at("lower_bound").is_null()) lower = json_to_values(entry.at("lower_bound"), what);
        KeysetBatch batch = next_keyset_batch(ctx.engine, scope, keys_, lower, ctx.batch_size, what);
        ctx.engine.exec(delete_sql(d, scope.from, relation_of(table_), batch.range), batch.params);
        if (batch.upper) {
            step.entry.set("lower_bound", values_to_json(*batch.upper));
            step.items = ctx.batch_size;
        } else {
            step.entry.set_bool("scanned", true);
            step.items =
                ctx.engine.query("SELECT count(*) FROM " + scope.from + " WHERE " + batch.range, batch.params)[0][0].as_int();
        }
        return step;
    }

    [[noreturn]] void throw_outside_range(BatchContext& ctx, const Error& e) {
        throw Error(ErrorKind::Integrity,
                    "validating " + constraint_name_ + " of background update '" + ctx.update_name +
                        "' found rows breaking it outside the key range given at registration (min_key/max_key), "
                        "which this update does not scan: " + e.what(),
                    e.sqlstate(), e.detail(), e.hint());
    }

    int64_t validate(BatchContext& ctx) {
        const Dialect& d = ctx.engine.dialect();
        if (auto sql = d.validate_constraint_sql(d.table(table_), constraint_name_); !sql.empty()) {
            try {
                ctx.engine.exec_unbounded(sql);
            } catch (const Error& e) {
                if (e.kind() != ErrorKind::Integrity) throw;
                if (bounds_given()) throw_outside_range(ctx, e);
                // A bad row got in before the constraint existed: scan again from the start.
                throw ProgressReset{"{\"state\":\"check\"}", std::string("validation found rows breaking ") +
                                                                  constraint_name_ + ", rescanning: " + e.what()};
            }
        }
        ctx.complete();
        return 0;
    }

    std::string table_, constraint_name_;
    Constraint constraint_;
    std::vector<std::string> keys_;
    KeyRangeSpec range_;
    PartitionedScan scan_;
};

}  // namespace

std::unique_ptr<Handler> make_validate_and_delete_rows_handler(const Json& spec) {
    return std::make_unique<ValidateAndDeleteRowsHandler>(spec);
}


// ---- registration (register_validate_constraint_and_delete_rows)

void register_validate_and_delete_rows(Registrar& r, const std::string& update_name, const std::string& table,
                                       const std::string& constraint_name, const std::string& constraint_json,
                                       const std::vector<std::string>& unique_columns, const KeyRangeArgs& range) {
    Registrar::require_name(update_name, "update_name");
    Registrar::require_name(constraint_name, "constraint_name");
    Constraint c = Constraint::parse(constraint_json);
    if (unique_columns.empty()) bad_input("unique_columns must name at least one column");
    r.require_columns(table, unique_columns, "unique column");
    r.require_unique_key(table, unique_columns, "unique_columns of '" + update_name + "'");
    r.require_columns(table, c.own_columns(), "constraint column");
    if (c.kind == Constraint::Kind::ForeignKey) {
        std::vector<std::string> referenced;
        for (auto& p : c.columns) referenced.push_back(p.second);
        r.require_columns(c.referenced_table, referenced, "referenced column");
    }
    Json spec = Json::object();
    spec.set("table", table);
    spec.set("constraint_name", constraint_name);
    spec.set("constraint", Json::parse(constraint_json, "constraint"));
    spec.set("unique_columns", string_array(unique_columns));
    r.pin_table(spec, table);
    KeyRangeSpec::store(spec, range.fixed, range.min_key, range.max_key, unique_columns, update_name);
    r.save(update_name, HandlerKind::ValidateConstraintAndDeleteRows, spec);
}

void register_validate_and_delete_rows(Registrar& r, const RegistrationArguments& args) {
    std::string name = args.text("update_name");
    std::string table = args.text("table");
    std::string constraint_name = args.text("constraint_name");
    std::string constraint = args.text("constraint");
    std::vector<std::string> unique_columns = args.string_list("unique_columns");
    register_validate_and_delete_rows(r, name, table, constraint_name, constraint, unique_columns,
                                      key_range_args(args));
}

}  // namespace bgupdate
