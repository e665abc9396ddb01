#include "partitioned_index.h"

#include <algorithm>
#include <cstdio>

#include "../dialect.h"
#include "../errors.h"
#include "../fragment_check.h"
#include "../partitions.h"

namespace bgupdate {

namespace {

constexpr size_t kMaxIdentifierBytes = 63;  // PostgreSQL's NAMEDATALEN - 1
// Attachments per batch: catalog work only, but each holds a lock on its
// partition until the batch commits; not sized by the batch controller,
// whose rate the index builds (one leaf a batch) dominate.
constexpr int64_t kAttachmentsPerBatch = 20;

bool is_true(const Value& v) {
    if (v.kind == Value::Kind::Text) return v.text == "t" || v.text == "true";
    return v.as_int() != 0;
}

// FNV-1a: a short, stable suffix that keeps shortened names apart.
std::string short_hash(const std::string& s) {
    uint32_t h = 2166136261u;
    for (unsigned char c : s) {
        h ^= c;
        h *= 16777619u;
    }
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", h);
    return buf;
}

class Builder {
public:
    Builder(BatchContext& ctx, const IndexDefinition& def, const std::vector<PartitionNode>& tree)
        : ctx_(ctx), e_(ctx.engine), d_(ctx.engine.dialect()), def_(def), tree_(tree) {}

    int64_t run() {
        progress_ = ctx_.progress.deep_copy();
        parts_ = progress_.at("partitions");
        if (!parts_.is_object()) {
            parts_ = Json::object();
            progress_.set("partitions", parts_);
        }
        if (auto built = build_next_leaf()) return *built;
        create_parent_indexes();
        int64_t attached = 0;
        if (attach_up_to(kAttachmentsPerBatch, attached)) {
            ctx_.save_progress(progress_);
            return attached;
        }
        finish();
        return attached;
    }

private:
    std::string index_name_of(const PartitionNode& n) const {
        return n.level == 0 ? def_.index : partition_index_name(def_.index, n.name);
    }
    std::string quoted_index_of(const PartitionNode& n) const {
        return quoted_relation(d_, n.schema, index_name_of(n));
    }
    const PartitionNode& parent_of(const PartitionNode& n) const {
        for (auto& p : tree_)
            if (p.schema == n.parent_schema && p.name == n.parent) return p;
        throw Error(ErrorKind::Failure, "partition " + n.qualified() + " has no parent in the partition tree of " +
                                            def_.table);
    }
    std::string state_of(const PartitionNode& n) const { return parts_.get_string(n.qualified().c_str()).value_or(""); }
    void set_state(const PartitionNode& n, const char* state) { parts_.set(n.qualified().c_str(), state); }

    bool attached(const PartitionNode& n) {
        return !e_.query(d_.attached_index_sql(quoted_relation(d_, n), quoted_index_of(parent_of(n)))).empty();
    }

    std::string create_sql(const PartitionNode& n, bool concurrently, bool only) const {
        std::vector<std::string> cols;
        for (auto& c : def_.columns) cols.push_back(d_.ident(c));
        return std::string("CREATE ") + (def_.unique ? "UNIQUE " : "") + "INDEX " +
               (concurrently ? "CONCURRENTLY " : "") + "IF NOT EXISTS " + d_.ident(index_name_of(n)) + " ON " +
               (only ? "ONLY " : "") + quoted_relation(d_, n) + " (" + join(cols, ", ") + ")" +
               (def_.where ? " WHERE " + compose_condition(*def_.where) : "");
    }

    // Step 1: CREATE INDEX CONCURRENTLY on the next leaf that lacks a valid
    // one, one leaf per batch (it runs outside any transaction).
    std::optional<int64_t> build_next_leaf() {
        for (auto& leaf : tree_) {
            if (!leaf.leaf) continue;
            std::string state = state_of(leaf);
            if (state == "built" || state == "attached") continue;
            // Created with the partition after the table's index existed.
            if (attached(leaf)) {
                set_state(leaf, "attached");
                continue;
            }
            std::string index = quoted_index_of(leaf);
            auto validity = e_.query(d_.index_validity_sql(index));
            if (!validity.empty() && is_true(validity[0][0])) {
                set_state(leaf, "built");
                continue;
            }
            // A build that failed or was interrupted leaves an INVALID index behind.
            if (!validity.empty()) e_.exec_outside_transaction("DROP INDEX CONCURRENTLY IF EXISTS " + index);
            e_.exec_outside_transaction(create_sql(leaf, true, false));
            set_state(leaf, "built");
            ctx_.save_progress(progress_);
            return 1;
        }
        return std::nullopt;
    }

    // Step 2: the partitioned tables' own indexes (catalog entries only).
    void create_parent_indexes() {
        for (auto& n : tree_)
            if (!n.leaf) e_.exec(create_sql(n, false, true));
    }

    // Step 3: attach each partition's index to its parent's, deepest first.
    // Returns true when some are left for the next batch.
    bool attach_up_to(int64_t limit, int64_t& done) {
        std::vector<const PartitionNode*> order;
        for (auto& n : tree_)
            if (n.level > 0) order.push_back(&n);
        std::stable_sort(order.begin(), order.end(),
                         [](const PartitionNode* a, const PartitionNode* b) { return a->level > b->level; });
        for (const PartitionNode* n : order) {
            if (state_of(*n) == "attached") continue;
            if (attached(*n)) {
                set_state(*n, "attached");
                continue;
            }
            if (done >= limit) return true;
            e_.exec("ALTER INDEX " + quoted_index_of(parent_of(*n)) + " ATTACH PARTITION " + quoted_index_of(*n));
            set_state(*n, "attached");
            ++done;
        }
        return false;
    }

    // Step 4: every partition's index attached: the table's index is valid.
    void finish() {
        const PartitionNode& root = tree_.front();
        auto validity = e_.query(d_.index_validity_sql(quoted_index_of(root)));
        if (validity.empty() || !is_true(validity[0][0]))
            fail(ErrorKind::Failure, "index " + def_.index + " on " + def_.table +
                                         " is still not valid after every partition's index was attached (a "
                                         "partition that cannot have an index, such as a foreign table?)");
        // PostgreSQL cannot drop a partitioned index concurrently: a plain
        // DROP INDEX, catalog work only, under the batch's lock timeout.
        if (def_.replaces)
            e_.exec("DROP INDEX IF EXISTS " + quoted_relation(d_, root.schema, *def_.replaces));
        ctx_.complete();
    }

    BatchContext& ctx_;
    Engine& e_;
    const Dialect& d_;
    const IndexDefinition& def_;
    const std::vector<PartitionNode>& tree_;
    Json progress_, parts_;
};

}  // namespace

std::string partition_index_name(const std::string& index, const std::string& partition) {
    std::string full = index + "_" + partition;
    if (full.size() <= kMaxIdentifierBytes) return full;
    std::string suffix = "_" + short_hash(full);
    size_t keep = kMaxIdentifierBytes - suffix.size();
    // Never cut a UTF-8 character in two.
    while (keep > 0 && (static_cast<unsigned char>(full[keep]) & 0xC0) == 0x80) --keep;
    return full.substr(0, keep) + suffix;
}

int64_t build_partitioned_index(BatchContext& ctx, const IndexDefinition& def, const std::vector<PartitionNode>& tree) {
    return Builder(ctx, def, tree).run();
}

}  // namespace bgupdate
