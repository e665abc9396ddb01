#include "schema_reader.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "errors.h"

namespace fs = std::filesystem;

namespace bgtool {
namespace {

bool is_version(const std::string& name) {
    return !name.empty() && name.size() < 10 && std::all_of(name.begin(), name.end(), ::isdigit);
}

// <dir>/<version>/<files> into `out`.
void read_versions(const fs::path& dir, std::map<int64_t, std::vector<bgupdate::SchemaFile>>& out) {
    for (auto& v : fs::directory_iterator(dir)) {
        std::string name = v.path().filename().string();
        if (!v.is_directory() || !is_version(name)) continue;
        auto& files = out[std::stoll(name)];
        for (auto& f : fs::directory_iterator(v.path()))
            if (f.is_regular_file()) files.push_back({f.path().filename().string(), f.path().string()});
    }
}

bool has_version_dirs(const fs::path& dir) {
    for (auto& v : fs::directory_iterator(dir))
        if (v.is_directory() && is_version(v.path().filename().string())) return true;
    return false;
}

bool is_schema_dir(const fs::path& dir) {
    return fs::is_directory(dir / "full_schemas") || fs::is_directory(dir / "delta");
}

bgupdate::SchemaDirectory read_one(const fs::path& dir) {
    bgupdate::SchemaDirectory d;
    d.label = dir.filename().string();
    if (d.label.empty()) d.label = dir.parent_path().filename().string();
    if (fs::is_directory(dir / "full_schemas")) read_versions(dir / "full_schemas", d.snapshots);
    if (fs::is_directory(dir / "delta")) read_versions(dir / "delta", d.deltas);
    if (!is_schema_dir(dir)) read_versions(dir, d.deltas);
    return d;
}

}  // namespace

std::vector<bgupdate::SchemaDirectory> read_schema_directories(const std::vector<std::string>& paths) {
    std::vector<bgupdate::SchemaDirectory> out;
    try {
        for (auto& p : paths) {
            fs::path dir(p);
            if (!fs::is_directory(dir)) bgupdate::bad_input("no such schema directory: " + p);
            if (is_schema_dir(dir) || has_version_dirs(dir)) {
                out.push_back(read_one(dir));
                continue;
            }
            // A parent such as Synapse's synapse/storage/schema: common, main, state.
            std::vector<fs::path> children;
            for (auto& c : fs::directory_iterator(dir))
                if (c.is_directory() && is_schema_dir(c.path())) children.push_back(c.path());
            if (children.empty())
                bgupdate::bad_input("no schema files in " + p + ": expected full_schemas/<version>/ and delta/<version>/ "
                                    "folders, <version>/ folders of deltas, or folders holding those");
            std::sort(children.begin(), children.end());
            for (auto& c : children) out.push_back(read_one(c));
        }
    } catch (const fs::filesystem_error& e) {
        bgupdate::bad_input(std::string("cannot read schema directory: ") + e.what());
    }
    return out;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) bgupdate::bad_input("cannot read " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace bgtool
