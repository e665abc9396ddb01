// Synapse's register_background_update_handler: the user's SQL function does
// one batch, saves progress with update_progress and calls end_update when done.
#include "handler.h"

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

}  // namespace bgupdate
