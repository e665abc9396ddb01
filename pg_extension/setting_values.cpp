// bgupdate._normalise_setting(key, value): the one validation of a setting's
// value (common/settings.*), so that bgupdate.config(key, value) on
// PostgreSQL accepts and refuses exactly what bgupdate_config does on SQLite
// before it sets the GUC (bgupdate--1.1--1.2.sql).
#include "error_boundary.h"
#include "errors.h"
#include "settings.h"

extern "C" {
#include "utils/builtins.h"
}

using bgupdate_pg::invoke_cpp;
using bgupdate_pg::pg_guard;

extern "C" {

PG_FUNCTION_INFO_V1(bgupdate_normalise_setting);
Datum bgupdate_normalise_setting(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        if (PG_ARGISNULL(0)) bgupdate::bad_input("key must not be NULL");
        if (PG_ARGISNULL(1)) bgupdate::bad_input("value must not be NULL");
        char *key = nullptr, *value = nullptr;
        pg_guard([&]() noexcept {
            key = text_to_cstring(PG_GETARG_TEXT_PP(0));
            value = text_to_cstring(PG_GETARG_TEXT_PP(1));
        });
        std::string normalised = bgupdate::normalise_setting(key, value);
        Datum out = 0;
        pg_guard([&]() noexcept { out = CStringGetTextDatum(normalised.c_str()); });
        return out;
    });
}

}
