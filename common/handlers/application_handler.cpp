// An update whose batches the application runs itself (Synapse's model: the
// handler lives in the application), through batch_begin()/batch_end() on
// its own connection, from any language and driver. The runner never calls
// run_batch: the scheduling pass leaves such updates to that protocol.
#include "../errors.h"
#include "handler.h"

namespace bgupdate {
namespace {

class ApplicationHandler : public Handler {
public:
    int64_t run_batch(BatchContext& ctx) override {
        throw Error(ErrorKind::NotNow, "background update '" + ctx.update_name +
                                           "' is run by the application with batch_begin() and batch_end()");
    }
};

}  // namespace

std::unique_ptr<Handler> make_application_handler(const Json&) { return std::make_unique<ApplicationHandler>(); }

}  // namespace bgupdate
