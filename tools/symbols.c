/* SPDX-License-Identifier: MIT */
/* Call sites named at report time: function and file:line from an object's symbols and
 * DWARF, with elfutils' libdwfl (the library behind eu-addr2line; it also finds separate
 * debug info under /usr/lib/debug). Running addr2line(1) once per object was the other
 * way; libdwfl keeps each object open across sites and needs no child processes.
 *
 * The trace gives each frame as its object's path and the return address's offset from
 * where the object was loaded; libdwfl places the object offline at its lowest address,
 * so that address plus the offset is the frame's. The object must still exist where it was
 * (the report runs where the job ran, or on a copy of its tree); when it does not, the
 * site keeps the name the library gave it at run time. */
#include "report.h"

#include <elfutils/libdwfl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct object {
    char *path;
    Dwfl *dwfl; /* NULL: could not be opened */
    Dwfl_Module *module;
};

static struct object *objects;
static size_t n_objects;

static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

static struct object *object_of(const char *path)
{
    for (size_t i = 0; i < n_objects; i++)
        if (!strcmp(objects[i].path, path))
            return &objects[i];
    struct object *grown = realloc(objects, sizeof *objects * (n_objects + 1));
    if (!grown)
        return NULL;
    objects = grown;
    struct object *object = &objects[n_objects++];
    *object = (struct object){.path = strdup(path)};
    object->dwfl = dwfl_begin(&callbacks);
    if (object->dwfl) {
        object->module = dwfl_report_offline(object->dwfl, path, path, -1);
        dwfl_report_end(object->dwfl, NULL, NULL);
        if (!object->module) {
            dwfl_end(object->dwfl);
            object->dwfl = NULL;
        }
    }
    return object;
}

/* libstdc++'s demangler (the CLI links libstdc++ for the trace reader); C++ names only. */
extern char *__cxa_demangle(const char *mangled, char *out, size_t *length, int *status);

void symbols_demangle(const char *name, char *out, size_t size)
{
    int status = -1;
    char *plain = strncmp(name, "_Z", 2) ? NULL : __cxa_demangle(name, NULL, NULL, &status);
    snprintf(out, size, "%s", status == 0 && plain ? plain : name);
    free(plain);
}

bool symbols_lookup(const char *object_path, uint64_t offset, char *function, size_t function_size,
                    uint64_t *function_offset, char *where, size_t where_size)
{
    struct object *object = object_path[0] == '/' ? object_of(object_path) : NULL;
    if (!object || !object->module || offset == 0)
        return false;
    Dwarf_Addr low;
    dwfl_module_info(object->module, NULL, &low, NULL, NULL, NULL, NULL, NULL);
    /* offset - 1: a return address may lie past the end of the call's line. */
    Dwarf_Addr address = low + offset - 1;
    GElf_Off into = 0;
    GElf_Sym symbol;
    const char *name = dwfl_module_addrinfo(object->module, address, &into, &symbol, NULL, NULL,
                                            NULL);
    /* The nearest symbol below is not the function when it ends before the address: a
     * stripped object keeps only its exported symbols, and a static function after one of
     * them would be named after it, megabytes away. */
    if (!name || symbol.st_size == 0 || into >= symbol.st_size)
        return false;
    char unsuffixed[512]; /* a compiler's clone named as its function, as the library does */
    snprintf(unsuffixed, sizeof unsuffixed, "%.*s", (int)cdm__function_name_length(name), name);
    symbols_demangle(unsuffixed, function, function_size);
    *function_offset = into + 1;
    where[0] = '\0';
    Dwfl_Line *line = dwfl_module_getsrc(object->module, address);
    int number = 0;
    const char *file = line ? dwfl_lineinfo(line, &address, &number, NULL, NULL, NULL) : NULL;
    if (file) {
        const char *base = strrchr(file, '/');
        snprintf(where, where_size, "%s:%d", base ? base + 1 : file, number);
    }
    return true;
}

void symbols_free(void)
{
    for (size_t i = 0; i < n_objects; i++) {
        if (objects[i].dwfl)
            dwfl_end(objects[i].dwfl);
        free(objects[i].path);
    }
    free(objects);
    objects = NULL;
    n_objects = 0;
}
