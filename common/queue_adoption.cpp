#include "queue_adoption.h"

#include <algorithm>

#include "errors.h"

namespace bgupdate {

bool has_column(const std::vector<std::string>& cols, const char* c) {
    return std::find(cols.begin(), cols.end(), c) != cols.end();
}

std::string synapse_queue_columns(const std::vector<std::string>& cols, const std::string& what) {
    if (!has_column(cols, "update_name") || !has_column(cols, "progress_json"))
        bad_input(what + " is not shaped like Synapse's background_updates (it needs update_name and "
                  "progress_json columns); rename it, or move its rows into the queue yourself");
    std::string out = "update_name, progress_json";
    if (has_column(cols, "depends_on")) out += ", depends_on";
    if (has_column(cols, "ordering")) out += ", ordering";
    return out;
}

}  // namespace bgupdate
