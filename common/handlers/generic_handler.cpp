// Synapse's register_background_update_handler: the user's SQL function does
// one batch, saves progress with update_progress and calls end_update when done.
#include "handler.h"
#include "../errors.h"
#include "../registration.h"
#include "../sql_arguments.h"

namespace bgupdate {
namespace {

class GenericHandler : public Handler {
public:
    explicit GenericHandler(std::string function) : function_(std::move(function)) {}
    int64_t run_batch(BatchContext& ctx) override {
        return ctx.engine.call_handler(function_, ctx.progress_json, ctx.batch_size);
    }

private:
    std::string function_;
};

}  // namespace

std::unique_ptr<Handler> make_generic_handler(const Json& spec) {
    return std::make_unique<GenericHandler>(spec_string(spec, "function"));
}


// ---- registration (register_update_handler)

void register_generic_update(Registrar& r, const std::string& update_name, const std::string& function) {
    Registrar::require_name(update_name, "update_name");
    Registrar::require_name(function, "handler");
    Json spec = Json::object();
    spec.set("function", r.engine().resolve_function(function, false));
    r.save(update_name, HandlerKind::Generic, spec);
}

void register_generic_update(Registrar& r, const RegistrationArguments& args) {
    std::string name = args.text("update_name");
    register_generic_update(r, name, args.text("handler"));
}

}  // namespace bgupdate
