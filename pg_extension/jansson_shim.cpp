// The postgres executable exports a C function named json_object (the SQL
// function json_object(text[])). Loaded into postgres, a plain call to
// jansson's json_object() from this library binds to that one and crashes.
// The link uses --wrap=json_object, so every such call lands here and is
// forwarded to the definition inside libjansson, found with dlsym on its
// own handle (which searches that library, not the global scope).
#include <dlfcn.h>
#include <jansson.h>

#include <cstdlib>

extern "C" json_t* __wrap_json_object(void) {
    using Fn = json_t* (*)(void);
    static Fn real = nullptr;
    if (!real) {
        void* lib = dlopen("libjansson.so.4", RTLD_NOW | RTLD_LOCAL);
        if (lib) real = reinterpret_cast<Fn>(dlsym(lib, "json_object"));
        if (!real) std::abort();  // cannot happen when linked against libjansson
    }
    return real();
}
