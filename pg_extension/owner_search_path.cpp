#include "owner_search_path.h"

namespace bgupdate_pg {

std::string without_leading_temp_schema(const std::string& path) {
    std::string out;
    size_t pos = 0;
    while (pos <= path.size()) {
        size_t comma = path.find(',', pos);
        std::string item = path.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
        item = b == std::string::npos ? "" : item.substr(b, e - b + 1);
        // An unquoted name is folded to lower case: PG_TEMP is pg_temp too.
        std::string folded = item;
        if (folded.empty() || folded[0] != '"')
            for (auto& c : folded) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        if (!folded.empty() && folded != "pg_temp" && folded != "\"pg_temp\"" && folded.rfind("pg_temp_", 0) != 0 &&
            folded.rfind("\"pg_temp_", 0) != 0)
            out += (out.empty() ? "" : ", ") + item;
        if (comma == std::string::npos) break;
        pos = comma + 1;
    }
    return out + (out.empty() ? "" : ", ") + "pg_temp";
}

}  // namespace bgupdate_pg
