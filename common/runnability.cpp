#include "runnability.h"

#include <algorithm>

#include "dialect.h"
#include "json.h"

namespace bgupdate {

const char* Runnability::code() const {
    switch (blocker) {
        case Blocker::None: return "";
        case Blocker::Paused: return "paused";
        case Blocker::Failed: return "failed";
        case Blocker::NoHandler: return "no_handler";
        case Blocker::NotPermitted: return "not_permitted";
        case Blocker::OtherRole: return "owned_by_another_role";
        case Blocker::NeedsApplication: return "needs_application";
        case Blocker::NeedsWorker: return "needs_worker";
        case Blocker::RunByApplication: return "run_by_application";
        case Blocker::Untrusted: return "needs_registration";
        case Blocker::FunctionNotAllowed: return "function_not_allowed";
        case Blocker::RunsItself: return "runs_itself";
        case Blocker::BackingOff: return "backing_off";
        case Blocker::OnHold: return "on_hold";
        case Blocker::Dependency: return "waiting_for_dependency";
        case Blocker::Cycle: return "dependency_cycle";
    }
    return "";
}

ErrorKind Runnability::error_kind() const {
    switch (blocker) {
        case Blocker::NotPermitted: return ErrorKind::PermissionDenied;
        case Blocker::NoHandler: return ErrorKind::BadInput;
        default: return ErrorKind::NotNow;
    }
}

std::string Runnability::reason(const std::string& name) const {
    switch (blocker) {
        case Blocker::None: return "";
        case Blocker::Paused: return "background update '" + name + "' is paused (resume('" + name + "') to continue)";
        case Blocker::Failed:
            return "background update '" + name + "' is marked failed; call retry('" + name + "') first";
        case Blocker::NoHandler:
            return "no handler is registered for background update '" + name +
                   "' (register one with register_update_handler or another register_ function)";
        case Blocker::NotPermitted: return "permission denied to run background update '" + name + "'";
        case Blocker::OtherRole:
            return "background update '" + name + "' belongs to " + detail +
                   ": only the background worker runs it (a session runs only its own role's updates)";
        case Blocker::NeedsApplication:
            return "background update '" + name + "' has a generic handler: the application runs it (step() or run() "
                   "from a connection that defines the function)";
        case Blocker::NeedsWorker:
            return "background update '" + name + "' runs CREATE INDEX CONCURRENTLY, which cannot run inside a "
                   "transaction: the background worker builds it (wait with has_completed('" + name + "'))";
        case Blocker::RunByApplication:
            return "background update '" + name + "' is run by the application: batch_begin() opens its next batch, "
                   "batch_end() commits it";
        case Blocker::Untrusted:
            return "background update '" + name + "' was registered in the database file, and this connection does "
                   "not trust what the file says (PRAGMA trusted_schema is OFF): it runs once the application makes "
                   "the same registration on this connection";
        case Blocker::FunctionNotAllowed:
            return "background update '" + name + "' calls application function '" + detail +
                   "', which the application has not allowed on this connection: register the handler on this "
                   "connection, or call allow_function('" + detail + "')";
        case Blocker::RunsItself:
            return "background update '" + name + "' is not run by the application: step(), run() or the background "
                   "runner does its batches";
        case Blocker::BackingOff:
            return "background update '" + name + "' is backing off after a failure or lock timeout until " +
                   iso_timestamp(until_ms);
        case Blocker::OnHold:
            return "background update '" + name + "' is on hold until " + iso_timestamp(until_ms) + ": " + detail;
        case Blocker::Dependency:
            return "background update '" + name + "' waits for '" + detail + "' to complete";
        case Blocker::Cycle: return "dependency cycle among background updates: " + detail;
    }
    return "";
}

namespace {

// The application function a generic handler calls (none for other kinds).
std::optional<std::string> application_function_of(const Registration& reg) {
    if (reg.kind != HandlerKind::Generic) return std::nullopt;
    try {
        return Json::parse_object(reg.spec_json, "registration").get_string("function");
    } catch (const Error&) {
        return std::nullopt;  // a damaged row fails its batch, with the reason
    }
}

}  // namespace

Runnability assess_update(Engine& engine, const RunScope& scope, const Registration* reg, const UpdateState& st,
                          int64_t now_ms, bool by_name) {
    Runnability r;
    if (st.paused && !by_name) r.blocker = Blocker::Paused;
    else if (st.failed) r.blocker = Blocker::Failed;
    // A delta may enqueue before the application registers the handler:
    // wait for it rather than burn attempts.
    else if (!reg) r.blocker = Blocker::NoHandler;
    // About the update itself, whoever runs it; the checks after it are about this runner.
    // Health checks held it (finish() is not held: it is "complete this now").
    else if (st.hold_until_ms > now_ms && st.hold_until_ms >= st.next_attempt_at_ms && !by_name) {
        r.blocker = Blocker::OnHold;
        r.until_ms = st.hold_until_ms;
        r.detail = st.hold_reason.value_or("");
    } else if (st.next_attempt_at_ms > now_ms && !by_name) {
        r.blocker = Blocker::BackingOff;
        r.until_ms = st.next_attempt_at_ms;
    }
    else if (scope.only_manageable && !engine.may_manage(reg->identity.owner)) r.blocker = Blocker::NotPermitted;
    else if (scope.only_own_role && !engine.is_caller(reg->identity.owner)) {
        r.blocker = Blocker::OtherRole;
        r.detail = engine.owner_name(reg->identity.owner);
    }
    else if (!engine.registration_trusted(reg->update_name, handler_kind_name(reg->kind), reg->spec_json))
        r.blocker = Blocker::Untrusted;
    else if (auto fn = application_function_of(*reg); fn && !engine.application_function_allowed(*fn)) {
        r.blocker = Blocker::FunctionNotAllowed;
        r.detail = *fn;
    }
    else if (handler_kind_traits(reg->kind).application_protocol != scope.application_batch)
        r.blocker = scope.application_batch ? Blocker::RunsItself : Blocker::RunByApplication;
    else if (scope.declarative_only && handler_kind_traits(reg->kind).calls_application)
        r.blocker = Blocker::NeedsApplication;
    else if (!engine.can_exec_outside_transaction() && needs_top_level_statements(reg->kind, engine.dialect()))
        r.blocker = Blocker::NeedsWorker;
    return r;
}

QueueAssessment assess_queue(Engine& engine, const RunScope& scope, const std::vector<QueueRow>& queue,
                             const std::map<std::string, UpdateState>& states,
                             const std::map<std::string, Registration>& regs, int64_t now_ms) {
    QueueAssessment out;
    std::vector<QueueEntry> entries;
    for (auto& q : queue) {
        auto st = states.find(q.update_name);
        auto reg = regs.find(q.update_name);
        UpdateState none;
        Runnability r = assess_update(engine, scope, reg == regs.end() ? nullptr : &reg->second,
                                      st == states.end() ? none : st->second, now_ms);
        if (r.blocker == Blocker::BackingOff || r.blocker == Blocker::OnHold) {
            int64_t wait = r.until_ms - now_ms;
            out.earliest_retry_ms = out.earliest_retry_ms ? std::min(*out.earliest_retry_ms, wait) : wait;
        }
        entries.push_back(QueueEntry{q.update_name, q.ordering, q.depends_on, !r.runnable()});
        out.updates[q.update_name] = r;
    }
    out.plan = plan_schedule(entries);
    // A dependency wait outranks the update's own state only when nothing
    // else holds it (paused or failed say more about what to do).
    for (auto& q : queue) {
        Runnability& r = out.updates[q.update_name];
        if (out.plan.waiting.count(q.update_name) && (r.runnable() || r.blocker == Blocker::BackingOff ||
                                                     r.blocker == Blocker::OnHold)) {
            r.blocker = Blocker::Dependency;
            r.detail = *q.depends_on;
        }
        for (auto& cycle : out.plan.cycles)
            if (std::find(cycle.begin(), cycle.end(), q.update_name) != cycle.end()) {
                r.blocker = Blocker::Cycle;
                r.detail = join(cycle, " -> ");
            }
    }
    return out;
}

}  // namespace bgupdate
