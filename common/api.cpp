// The SQL-facing operations: argument checks, permission checks, then the
// registrar, the store, the runner or the schema-version code.
#include "api.h"

#include <algorithm>
#include <map>

#include "identity_scope.h"
#include "constraint_delta.h"
#include "current_batch.h"
#include "dialect.h"
#include "errors.h"
#include "handlers/handler.h"
#include "json.h"
#include "registration.h"
#include "runnability.h"
#include "runner.h"
#include "scheduler.h"
#include "schema_versions.h"
#include "schema_apply.h"
#include "queue_adoption.h"
#include "estimate.h"
#include "batch_transaction.h"
#include "settings.h"
#include "store.h"
#include "store_upgrade.h"

namespace bgupdate {

namespace {

// A user may act on an update only if they could manage its owner's objects.
void require_manageable(Engine& engine, Store& store, const std::string& name) {
    if (auto owner = store.owner_of(name); owner && !engine.may_manage(*owner))
        fail(ErrorKind::PermissionDenied,
             "permission denied for background update '" + name + "' (it belongs to " + engine.owner_name(*owner) + ")");
}

// The status view's state of a queued update. Only an update some runner can
// pick now is "pending" or "running" (which runner is not status's concern:
// the worker builds what a session cannot).
const char* status_state(const Runnability& why, const UpdateState& st) {
    switch (why.blocker) {
        case Blocker::Paused: return "paused";
        case Blocker::Failed: return "failed";
        case Blocker::BackingOff: return "backing_off";
        case Blocker::OnHold: return "on_hold";
        case Blocker::Dependency:
        case Blocker::Cycle:
        case Blocker::Untrusted:           // for the application: last_error says what it must do
        case Blocker::FunctionNotAllowed: return "waiting";
        case Blocker::NoHandler: return "pending";  // never ran; last_error says it waits for a handler
        // Its hold time passed, but no batch ran since: still on hold until the checks pass again.
        default: return st.hold_reason ? "on_hold" : st.batches > 0 ? "running" : "pending";
    }
}

void require_known(Store& store, const std::string& name) {
    Registrar::require_name(name, "update_name");
    if (!store.queue_row(name) && !store.registration(name) && !store.state(name).exists)
        fail(ErrorKind::UndefinedObject, "unknown background update '" + name + "'");
}

// reset(): the update starts over. The queue row stays (with empty
// progress), so it runs again once a handler is registered.
void forget_update(Engine&, Store& store, const std::string& name) {
    UpdateState before = store.state(name);
    before.update_name = name;
    store.add_history(name, "reset", before, "started over by reset(): progress, state and definition forgotten");
    store.forget(name);
}

}  // namespace

void Api::ensure_schema() { ensure_store_schema(engine_); }

// ---- registration ----

void Api::register_update(HandlerKind kind, const RegistrationArguments& args) {
    const HandlerKindTraits& traits = handler_kind_traits(kind);
    if (!traits.register_update)
        fail(ErrorKind::Failure, std::string("internal error: handler kind ") + traits.name +
                                     " has no registration from SQL arguments");
    AsCaller me(engine_);
    Registrar registrar(engine_);
    traits.register_update(registrar, args);
}
void Api::register_update_handler(const std::string& update_name, const std::string& function) {
    AsCaller me(engine_);
    Registrar registrar(engine_);
    register_generic_update(registrar, update_name, function);
}
void Api::register_validate_constraint_and_delete_rows(const std::string& update_name, const std::string& table,
                                                       const std::string& constraint_name,
                                                       const std::string& constraint_json,
                                                       const std::vector<std::string>& unique_columns,
                                                       const KeyRangeArgs& range) {
    AsCaller me(engine_);
    Registrar registrar(engine_);
    register_validate_and_delete_rows(registrar, update_name, table, constraint_name, constraint_json, unique_columns,
                                      range);
}
void Api::register_batched_update(const BatchedUpdateArgs& args) {
    AsCaller me(engine_);
    Registrar registrar(engine_);
    bgupdate::register_batched_update(registrar, args);
}

int64_t Api::add_constraint_and_enqueue(const ConstraintDeltaArgs& args) {
    Settings settings = load_settings(engine_);
    AsCaller me(engine_);
    return engine_.constraint_delta().add_constraint_and_enqueue(args, settings);
}

// ---- queue ----

void Api::enqueue(const std::string& update_name, int64_t ordering, const std::optional<std::string>& depends_on,
                  const std::string& progress_json) {
    Registrar::require_name(update_name, "update_name");
    // '' names no update, so it would be silently satisfied: NULL means "none".
    if (depends_on) Registrar::require_name(*depends_on, "depends_on (NULL when there is none)");
    if (depends_on && *depends_on == update_name)
        bad_input("dependency cycle among background updates: " + update_name + " -> " + update_name);
    Json::parse_object(progress_json, "progress_json of background update '" + update_name + "'");
    Store(engine_).enqueue(QueueRow{update_name, progress_json, depends_on, ordering});
}

void Api::update_progress(const std::string& update_name, const std::string& progress_json) {
    Registrar::require_name(update_name, "update_name");
    Json::parse_object(progress_json, "progress_json of background update '" + update_name + "'");
    Store store(engine_);
    require_manageable(engine_, store, update_name);
    store.save_progress(update_name, progress_json);
}

void Api::end_update(const std::string& update_name) {
    Registrar::require_name(update_name, "update_name");
    Store store(engine_);
    require_manageable(engine_, store, update_name);
    if (!store.remove_from_queue(update_name))
        bad_input("background update '" + update_name + "' is not in the queue");
    if (CurrentBatch::is(update_name)) return;  // the runner records completion with the batch's totals
    UpdateState st = store.state(update_name);
    st.update_name = update_name;
    st.completed_at = st.updated_at = iso_timestamp_now();
    store.add_history(update_name, "complete", st, "ended by end_update outside a batch");
    store.save_state(st);
}

// ---- running ----

StepOutcome Api::step(const RunScope& scope) {
    refuse_inside_batch("step()");
    return Runner(engine_, scope).step();
}

RunSummary Api::run(int64_t max_ms, const RunScope& scope) {
    refuse_inside_batch("run()");
    return Runner(engine_, scope).run(max_ms);
}

void Api::finish(const std::string& update_name, std::optional<int64_t> timeout_ms, const RunScope& base) {
    refuse_inside_batch("finish('" + update_name + "')");
    Registrar::require_name(update_name, "update_name");
    // A typo must not look like completion: only a name ever registered,
    // queued or completed here (its state row is kept) counts as done.
    Store store(engine_);
    require_known(store, update_name);
    RunScope scope = base;
    scope.ignore_enabled = true;
    scope.only_manageable = true;
    Runner(engine_, scope).finish(update_name, timeout_ms);
}

void Api::reset(const std::string& update_name) {
    refuse_inside_batch("reset('" + update_name + "')");
    Store store(engine_);
    require_known(store, update_name);
    require_manageable(engine_, store, update_name);
    Settings settings = load_settings(engine_);
    in_batch(engine_, settings, [&] {
        // Not while a batch of it runs somewhere: that batch would commit
        // work done under the old definition after the reset.
        if (!engine_.try_claim_update(update_name))
            fail(ErrorKind::NotNow, "background update '" + update_name + "' has a batch running now",
                 "wait for it, or cancel('" + update_name + "') it, then reset again");
        try {
            forget_update(engine_, store, update_name);
        } catch (...) {
            try { engine_.release_update(update_name); } catch (...) {}
            throw;
        }
        engine_.release_update(update_name);
    });
}

bool Api::cancel(const std::string& update_name) {
    Registrar::require_name(update_name, "update_name");
    Store store(engine_);
    require_known(store, update_name);
    require_manageable(engine_, store, update_name);
    return engine_.cancel_running_batch(update_name);
}

RunScope Api::application_scope() const {
    RunScope scope = application_scope_;
    scope.application_batch = true;
    return scope;
}

StepOutcome Api::record_abandoned_batch(const ApplicationBatch& open, const std::string& message) {
    return Runner(engine_, application_scope()).record_abandoned_batch(open, message);
}

std::string Api::batch_begin(std::optional<ApplicationBatch>& slot) {
    refuse_inside_batch("batch_begin()");
    StepOutcome out = Runner(engine_, application_scope()).begin_application_batch(slot);
    // No batch opened (its start failed, or a health check holds it): the
    // "nothing ran" shape, with the error or hold that says why.
    if (!slot) out.update_name.reset();
    if (!out.update_name) return out.to_json();
    Json j = Json::object();
    j.set("update_name", *out.update_name);
    j.set("progress", slot->start.progress);
    j.set("batch_size", out.batch_size);
    return j.dump();
}

StepOutcome Api::batch_end(std::optional<ApplicationBatch>& slot, int64_t items,
                           const std::optional<std::string>& progress_json, bool done) {
    refuse_inside_batch("batch_end()");
    return Runner(engine_, application_scope()).end_application_batch(slot, items, progress_json, done);
}

StepOutcome Api::batch_fail(std::optional<ApplicationBatch>& slot, const std::string& message) {
    refuse_inside_batch("batch_fail()");
    return Runner(engine_, application_scope()).fail_application_batch(slot, message);
}

void Api::register_application_update(const std::string& update_name) {
    Registrar(engine_).application(update_name);
}

bool Api::has_completed(const std::string& update_name) {
    // As in Synapse: anything not (or no longer) in the queue has completed.
    return !Store(engine_).queue_row(update_name);
}

bool Api::has_completed_all() { return Store(engine_).queue_size() == 0; }

// ---- control ----

void Api::set_enabled(bool on) { engine_.set_setting("enabled", on ? "true" : "false"); }
bool Api::enabled() { return load_settings(engine_).enabled; }

// pause, resume and retry: a change to one update's stored state, by someone
// allowed to. Only the columns they change are written: a batch that commits
// meanwhile keeps its record (writing back a whole row read earlier undid it).
static void change_state(Engine& engine, const std::string& name, const std::vector<StateChange>& changes) {
    Store store(engine);
    require_known(store, name);
    require_manageable(engine, store, name);
    store.change_state(name, changes);
}

void Api::pause(const std::string& update_name) { change_state(engine_, update_name, {StateChange::Pause}); }

void Api::resume(const std::string& update_name) {
    // Look at its health again now (the hold reason stays until a batch runs).
    change_state(engine_, update_name, {StateChange::Unpause, StateChange::EndBackoff, StateChange::EndHold});
}

void Api::retry(const std::string& update_name) {
    change_state(engine_, update_name, {StateChange::Unfail, StateChange::EndBackoff});
}

std::string Api::config(const std::string& key) {
    const SettingInfo* info = find_setting(key);
    if (!info) normalise_setting(key, "");  // throws the "unknown setting" error
    auto v = engine_.get_setting(key);
    return v ? normalise_setting(key, *v) : info->default_value;
}

std::string Api::config(const std::string& key, const std::string& value) {
    std::string v = normalise_setting(key, value);
    if (find_setting(key)->type == SettingInfo::Type::Function && !v.empty()) v = engine_.resolve_function(v, true);
    // Each value may be valid alone and still contradict another setting:
    // checked together, and the old value kept when they do.
    auto before = engine_.get_setting(key);
    engine_.set_setting(key, v);
    try {
        require_settings_agree(load_settings(engine_));
    } catch (...) {
        engine_.set_setting(key, before ? *before : std::string(find_setting(key)->default_value));
        throw;
    }
    return v;
}

void Api::record_lost_batch(const std::string& update_name, const std::string& message) {
    Runner(engine_, RunScope{}).record_lost_batch(update_name, message);
}

// ---- status ----

std::vector<StatusRow> Api::status(const RunScope& scope) {
    Store store(engine_);
    Settings settings = load_settings(engine_);
    auto queue = store.queue();
    std::map<std::string, UpdateState> states;
    for (auto& st : store.states()) states[st.update_name] = st;
    std::map<std::string, Registration> regs;
    for (auto& r : store.registrations()) regs[r.update_name] = r;

    QueueAssessment assessed = assess_queue(engine_, scope, queue, states, regs, wall_clock_ms());

    auto visible = [&](const std::string& name) {
        if (!scope.only_manageable) return true;
        auto reg = regs.find(name);
        if (reg != regs.end()) return engine_.may_manage(reg->second.identity.owner);
        auto owner = store.owner_of(name);  // another role's registration is hidden from this one
        return !owner || engine_.may_manage(*owner);
    };
    auto fill = [&](StatusRow& row, const UpdateState& st, bool complete) {
        row.batches = st.batches;
        row.items_done = st.perf.total_items;
        row.total_estimate = st.total_estimate;
        row.batch_size = st.batch_size;
        row.attempts = st.attempts;
        row.last_error = st.last_error;
        row.started_at = st.started_at;
        row.updated_at = st.updated_at;
        row.completed_at = st.completed_at;
        StatusInputs in{st.perf.total_items, st.total_estimate, st.perf.avg_items, st.perf.avg_duration_ms,
                        st.perf.total_duration_ms, complete, settings.sleep_enabled, settings.sleep_duration_ms,
                        settings.update_duration_ms, settings.min_batch_size};
        StatusFigures f = compute_status_figures(in);
        row.percent = f.percent;
        row.avg_items_per_ms = f.avg_items_per_ms;
        row.total_items_per_ms = f.total_items_per_ms;
        row.eta_seconds = f.eta_seconds;
    };

    std::vector<StatusRow> out;
    for (auto& q : queue) {
        if (!visible(q.update_name)) continue;
        StatusRow row;
        row.update_name = q.update_name;
        row.ordering = q.ordering;
        row.depends_on = q.depends_on;
        UpdateState st = states.count(q.update_name) ? states[q.update_name] : UpdateState{};
        if (regs.count(q.update_name)) {
            // Before its first batch the runner has taken no total yet: show
            // what it would take where that is cheap (PostgreSQL; SQLite would
            // count every pending update's table on every look). Either way,
            // say when the table has no statistics (the total is then from a
            // sample of its pages).
            // Names in the registration resolve as they do for its batches: as its owner.
            // (Best effort: a registering role dropped since leaves it without one.)
            const Registration& reg = regs[q.update_name];
            try {
                AsIdentity as_owner(engine_, reg.identity);
                auto handler = make_handler(reg);
                if (!st.total_estimate && engine_.dialect().estimates_from_statistics())
                    st.total_estimate = handler->estimate_total(engine_);
                row.estimate_is_rough = st.total_estimate && handler->estimate_is_rough(engine_);
            } catch (const Error&) {
            }
        }
        fill(row, st, false);
        const Runnability& why = assessed.updates[q.update_name];
        row.state = status_state(why, st);
        // Switched off (set_enabled(false)): no runner picks anything, so
        // nothing is "pending" or "running" (finish() still runs it on request).
        if (!settings.enabled && (row.state == std::string("pending") || row.state == std::string("running") ||
                                  row.state == std::string("backing_off"))) {
            row.state = "waiting";
            row.last_error = "background updates are switched off (set_enabled(false)); set_enabled(true) lets them run";
        }
        if (row.state == std::string("on_hold")) {
            row.hold_reason = st.hold_reason;
            row.hold_until = iso_timestamp(st.hold_until_ms);
        }
        if (why.blocker == Blocker::NoHandler && !row.last_error)
            row.last_error = "no handler is registered for this update yet; it waits for one";
        if (why.blocker == Blocker::Cycle) row.last_error = "dependency cycle: " + why.detail;
        if (why.blocker == Blocker::Untrusted || why.blocker == Blocker::FunctionNotAllowed)
            row.last_error = why.reason(q.update_name);
        out.push_back(row);
    }
    for (auto& [name, st] : states) {
        if (!st.completed_at || !visible(name)) continue;
        if (std::any_of(queue.begin(), queue.end(), [&](const QueueRow& q) { return q.update_name == name; })) continue;
        StatusRow row;
        row.update_name = name;
        row.state = "complete";
        row.ordering = st.ordering;
        row.depends_on = st.depends_on;
        fill(row, st, true);
        // An error from an earlier attempt is history (see the history
        // table), not something wrong with a completed update.
        row.last_error.reset();
        out.push_back(row);
    }
    std::stable_sort(out.begin(), out.end(), [](const StatusRow& a, const StatusRow& b) {
        int64_t ao = a.ordering.value_or(0), bo = b.ordering.value_or(0);
        return ao != bo ? ao < bo : a.update_name < b.update_name;
    });
    return out;
}

// ---- schema versions ----

void Api::check_schema_compat(int64_t code_version) { bgupdate::check_schema_compat(engine_, code_version); }

bool Api::apply_schema_delta(int64_t version, const std::string& file_name, const std::string& sql) {
    Settings settings = load_settings(engine_);
    AsCaller me(engine_);  // a delta's names resolve as the caller's own statements would
    return bgupdate::apply_schema_delta(engine_, settings, version, file_name, sql);
}

void Api::set_schema_version(int64_t version, int64_t compat_version) {
    bgupdate::set_schema_version(engine_, load_settings(engine_), version, compat_version);
}

void Api::apply_schema_snapshot(int64_t version, const std::string& file_name, const std::string& sql) {
    Settings settings = load_settings(engine_);
    AsCaller me(engine_);  // the snapshot's names resolve as the caller's own statements would
    bgupdate::apply_schema_snapshot(engine_, settings, version, file_name, sql);
}

bool Api::skip_schema_delta(int64_t version, const std::string& file_name, const std::string& reason) {
    if (version < 0) bad_input("version must not be negative");
    Settings settings = load_settings(engine_);
    AsCaller me(engine_);
    return in_batch(engine_, settings,
                    [&] { return bgupdate::skip_schema_delta(engine_, version, file_name, reason); });
}

std::string Api::adopt_queue() {
    Settings settings = load_settings(engine_);
    AsCaller me(engine_);  // `background_updates` means what it means on the caller's search_path
    AdoptionResult r = in_batch(engine_, settings, [&] { return engine_.queue_adoption().adopt_queue(); });
    Json out = Json::object();
    out.set_bool("adopted_table", r.adopted_table);
    out.set_bool("created_view", r.created_view);
    out.set("rows_moved", r.rows_moved);
    out.set("schema_tables_adopted", r.schema_tables_adopted);
    return out.dump();
}

std::string Api::estimate(const std::string& update_name, const RunScope& scope, bool caller_rolls_back) {
    refuse_inside_batch("estimate('" + update_name + "')");
    return estimate_update(engine_, update_name, scope, caller_rolls_back);
}

}  // namespace bgupdate
