// Moving a SQLite value into a PostgreSQL column, decided by the column's
// type (so no hand-kept list of boolean columns, as Synapse's port script
// needs): 0/1 into boolean, blobs into bytea, text as text, numbers exactly.
// Pure: the result is one field of PostgreSQL's COPY text format.
#pragma once

#include <cstdint>
#include <string>

namespace bgupdate {

// What the target column is, as far as conversion cares.
enum class TargetType { Boolean, Bytea, Integer, Float, Numeric, Json, Text };

// From pg_type: the base type's name (typname) and category (typcategory).
TargetType target_type_of(const std::string& type_name, char category);
const char* target_type_name(TargetType t);

// A value as SQLite stores it.
struct SourceValue {
    enum class Kind { Null, Integer, Real, Text, Blob };
    Kind kind = Kind::Null;
    int64_t integer = 0;
    double real = 0;
    std::string bytes;  // Text (UTF-8) or Blob
    static SourceValue null() { return {}; }
    static SourceValue of(int64_t v) { SourceValue s; s.kind = Kind::Integer; s.integer = v; return s; }
    static SourceValue of_real(double v) { SourceValue s; s.kind = Kind::Real; s.real = v; return s; }
    static SourceValue text(std::string v) { SourceValue s; s.kind = Kind::Text; s.bytes = std::move(v); return s; }
    static SourceValue blob(std::string v) { SourceValue s; s.kind = Kind::Blob; s.bytes = std::move(v); return s; }
};

// The shortest decimal text that reads back as exactly `v` (up to 17 digits).
std::string exact_real_text(double v);

// The COPY text-format field for `v` in a column of type `t` ("\N" for NULL,
// backslash, newline, carriage return and tab escaped). Throws BadInput
// saying why the value cannot go there (a NUL byte in text, 2.5 into an
// integer, 'maybe' into a boolean, a blob into a number).
std::string copy_field(const SourceValue& v, TargetType t);

}  // namespace bgupdate
