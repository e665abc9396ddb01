#include "estimate.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "batch_transaction.h"
#include "errors.h"
#include "json.h"
#include "runner.h"
#include "settings.h"
#include "store.h"

namespace bgupdate {

std::string estimate_update(Engine& engine, const std::string& name, const RunScope& base, bool caller_rolls_back) {
    Settings settings = load_settings(engine);
    Store store(engine);
    if (name.empty()) bad_input("update_name must not be empty");
    if (!store.queue_row(name)) bad_input("no background update named '" + name + "' is queued");
    // The trial batch runs the update's code here, in the caller's session:
    // the same rules as running it (finish()).
    if (auto owner = store.owner_of(name)) {
        if (base.only_manageable && !engine.may_manage(*owner))
            fail(ErrorKind::PermissionDenied, "permission denied to run background update '" + name + "' (it belongs to " +
                                                  engine.owner_name(*owner) + ")");
        if (base.only_own_role && !engine.is_caller(*owner))
            fail(ErrorKind::NotNow, "estimate('" + name + "') runs a trial batch of the update in this session, and only "
                                    "sessions of its owner's role run its code (it belongs to " + engine.owner_name(*owner) + ")",
                 "run estimate() as the update's owner, or read its status");
    }
    UpdateState before = store.state(name);

    // The trial: one batch inside an outer batch that is always rolled back.
    StepOutcome trial;
    UpdateState after;
    std::optional<BatchTransaction> outer;
    if (!caller_rolls_back) outer.emplace(engine, settings);
    RunScope scope = base;
    scope.ignore_enabled = true;
    Runner runner(engine, scope);
    trial = runner.step_named(name);
    after = store.state(name);
    if (outer) outer->rollback();

    Json out = Json::object();
    out.set("update_name", name);
    out.set("items_done", before.perf.total_items);
    std::optional<int64_t> total = after.total_estimate ? after.total_estimate : before.total_estimate;
    if (total) out.set("total_estimate", *total); else out.set_null("total_estimate");
    std::optional<int64_t> left;
    if (total) left = std::max<int64_t>(0, *total - before.perf.total_items);
    if (left) out.set("items_left", *left); else out.set_null("items_left");
    out.set("trial_batch_size", trial.batch_size);
    out.set("trial_items", trial.items);
    out.set("trial_ms", trial.duration_ms);
    out.set("sleep_ms", settings.sleep_enabled ? settings.sleep_duration_ms : int64_t{0});

    const char* note = nullptr;
    if (trial.error) note = "the trial batch failed";
    else if (trial.lock_timeout || trial.busy_elsewhere) note = "the update is being run elsewhere right now (or a lock was busy); try again";
    else if (!trial.update_name && !trial.done) note = "no trial batch ran";
    else if (trial.items <= 0) note = "the trial batch did no work (the update is about to complete)";
    if (trial.error) out.set("error", *trial.error);

    if (note || !left) {
        for (const char* k : {"ms_per_item", "batch_size", "batch_ms", "batches", "sleep_seconds", "work_seconds", "total_seconds"})
            out.set_null(k);
        if (!note) note = "the number of items is not known yet (PostgreSQL: the table has not been analyzed)";
        out.set("note", note);
        return out.dump();
    }
    double ms_per_item = trial.duration_ms / static_cast<double>(trial.items);
    // The runner sizes batches to take update_duration_ms each.
    int64_t per_batch = std::max<int64_t>(settings.min_batch_size,
                                          static_cast<int64_t>(settings.update_duration_ms / std::max(ms_per_item, 1e-6)));
    int64_t batches = *left == 0 ? 0 : (*left + per_batch - 1) / per_batch;
    double sleep_s = settings.sleep_enabled ? std::max<int64_t>(0, batches - 1) * settings.sleep_duration_ms / 1000.0 : 0;
    double work_s = *left * ms_per_item / 1000.0;
    out.set("ms_per_item", ms_per_item);
    out.set("batch_size", per_batch);
    out.set("batch_ms", per_batch * ms_per_item);  // time per batch at that size
    out.set("batches", batches);
    out.set("sleep_seconds", sleep_s);
    out.set("work_seconds", work_s);
    out.set("total_seconds", sleep_s + work_s);
    return out.dump();
}

}  // namespace bgupdate
