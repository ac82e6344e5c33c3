/* SPDX-License-Identifier: MIT */
/* Names of code addresses, found without the program's allocator or the loader's lock.
 *
 * The hooks run inside the program's allocator: jemalloc, tcmalloc and mimalloc call mmap,
 * munmap and madvise with their own locks held, so naming a frame there must not call malloc
 * nor wait for a lock that a thread inside malloc may hold (doc/design.md, "What a hook may
 * call"). dladdr takes the loader's lock, and libunwind's unw_get_proc_name reads ELF images
 * with malloc: a redis-server hung in the second. Here the object holding an address comes
 * from _dl_find_object (glibc 2.35: lock-free, made for unwinders), and the function from the
 * object's own file, mapped read-only with a raw mmap: .symtab where the file has one, else
 * .dynsym. Each object's functions are indexed once, sorted by address, in our own arena.
 *
 * Every address named is a return address on the calling thread's stack, so its object is
 * running and cannot be unloaded while we read its link map. Files stay mapped for the life
 * of the process (address space only; the page cache holds what is read). */
#include "internal.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct function_symbol {
    uint64_t start; /* address in the file (st_value) */
    uint64_t size;
    uint32_t name; /* offset in the string table */
};

/* One loaded object, keyed by where it is mapped and by its path (an object loaded where a
 * closed one was is another object). */
struct object_symbols {
    uintptr_t map_start;
    uint64_t path_hash;
    bool indexed; /* tried: `functions` may still be NULL (no file, no symbols) */
    const struct function_symbol *functions;
    size_t n_functions;
    const char *strings;
    size_t strings_size;
};

/* Objects a program's stacks pass through: a few dozen in practice. Past this, frames in
 * further objects are named "?" and the report names them from their offsets. */
#define MAX_OBJECTS 1024

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* a leaf: only raw syscalls under it */
static struct object_symbols objects[MAX_OBJECTS];
static int n_objects;
static uintptr_t library_start; /* where libcdmplace.so is mapped */

static uint64_t hash_path(const char *path)
{
    uint64_t hash = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)path; *c; c++)
        hash = (hash ^ *c) * 1099511628211ull;
    return hash;
}

/* In-place heap sort by start: glibc's qsort may call malloc. */
static void sift_down(struct function_symbol *f, size_t root, size_t n)
{
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && f[child + 1].start > f[child].start)
            child++;
        if (f[root].start >= f[child].start)
            return;
        struct function_symbol larger = f[child];
        f[child] = f[root];
        f[root] = larger;
    }
}

static void sort_by_start(struct function_symbol *f, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(f, i, n);
    for (size_t end = n; end-- > 1;) {
        struct function_symbol first = f[0];
        f[0] = f[end];
        f[end] = first;
        sift_down(f, 0, end);
    }
}

static bool is_function(const Elf64_Sym *symbol)
{
    unsigned type = ELF64_ST_TYPE(symbol->st_info);
    return (type == STT_FUNC || type == STT_GNU_IFUNC) && symbol->st_shndx != SHN_UNDEF &&
           symbol->st_value != 0;
}

/* The section of `type` in a mapped ELF file and its string table, bounds-checked: the
 * file is whatever is on disk under the object's name. */
static bool find_table(const unsigned char *image, size_t size, uint32_t type,
                       const Elf64_Shdr **table, const Elf64_Shdr **strings)
{
    const Elf64_Ehdr *header = (const Elf64_Ehdr *)image;
    const Elf64_Shdr *sections = (const Elf64_Shdr *)(image + header->e_shoff);
    for (unsigned i = 0; i < header->e_shnum; i++) {
        const Elf64_Shdr *section = &sections[i];
        if (section->sh_type != type || section->sh_link >= header->e_shnum ||
            section->sh_entsize != sizeof(Elf64_Sym))
            continue;
        const Elf64_Shdr *names = &sections[section->sh_link];
        if (section->sh_offset > size || section->sh_size > size - section->sh_offset ||
            names->sh_offset > size || names->sh_size > size - names->sh_offset)
            return false;
        *table = section;
        *strings = names;
        return true;
    }
    return false;
}

static const unsigned char *map_elf(const char *path, size_t *size)
{
    int fd;
    if (plat_open_above_stdio(path, O_RDONLY, 0, &fd))
        return NULL;
    struct stat st;
    void *image = NULL;
    bool mapped = fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(Elf64_Ehdr) &&
                  plat_mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0, &image) == 0;
    close(fd);
    if (!mapped)
        return NULL;
    *size = (size_t)st.st_size;
    const Elf64_Ehdr *header = image;
    if (memcmp(header->e_ident, ELFMAG, SELFMAG) != 0 || header->e_ident[EI_CLASS] != ELFCLASS64 ||
        header->e_shentsize != sizeof(Elf64_Shdr) || header->e_shoff > *size ||
        (size_t)header->e_shnum * sizeof(Elf64_Shdr) > *size - header->e_shoff) {
        plat_munmap(image, *size);
        return NULL;
    }
    return image;
}

/* Index the functions of the ELF file at `path` into `object`; caller holds `lock`. */
static void index_object(struct object_symbols *object, const char *path)
{
    object->indexed = true;
    size_t size;
    const unsigned char *image = map_elf(path, &size);
    if (!image)
        return;
    const Elf64_Shdr *table, *strings;
    if (!find_table(image, size, SHT_SYMTAB, &table, &strings) &&
        !find_table(image, size, SHT_DYNSYM, &table, &strings)) {
        plat_munmap((void *)image, size);
        return;
    }
    const Elf64_Sym *symbols = (const Elf64_Sym *)(image + table->sh_offset);
    size_t n_symbols = table->sh_size / sizeof(Elf64_Sym), n = 0;
    for (size_t i = 0; i < n_symbols; i++)
        n += is_function(&symbols[i]) && symbols[i].st_name < strings->sh_size;
    struct function_symbol *functions = n ? cdm__arena_map(n * sizeof *functions) : NULL;
    if (!functions) {
        plat_munmap((void *)image, size);
        return;
    }
    n = 0;
    for (size_t i = 0; i < n_symbols; i++)
        if (is_function(&symbols[i]) && symbols[i].st_name < strings->sh_size)
            functions[n++] = (struct function_symbol){
                .start = symbols[i].st_value, .size = symbols[i].st_size, .name = symbols[i].st_name};
    sort_by_start(functions, n);
    object->strings = (const char *)image + strings->sh_offset;
    object->strings_size = strings->sh_size;
    object->n_functions = n;
    object->functions = functions; /* the image stays mapped: the names are in it */
}

/* The function holding file address `at`, or NULL; aliases share a start. */
static const char *function_at(const struct object_symbols *object, uint64_t at)
{
    size_t low = 0, high = object->n_functions; /* first entry starting after `at` */
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (object->functions[middle].start <= at)
            low = middle + 1;
        else
            high = middle;
    }
    for (size_t i = low; i-- > 0 && object->functions[i].start == object->functions[low - 1].start;) {
        const struct function_symbol *f = &object->functions[i];
        if (at < f->start + f->size) {
            const char *name = object->strings + f->name;
            return memchr(name, '\0', object->strings_size - f->name) && *name ? name : NULL;
        }
    }
    return NULL;
}

/* The indexed object at map_start; caller holds `lock`. NULL when the table is full. */
static struct object_symbols *object_of(uintptr_t map_start, const char *path)
{
    uint64_t path_hash = hash_path(path);
    for (int i = 0; i < n_objects; i++)
        if (objects[i].map_start == map_start && objects[i].path_hash == path_hash)
            return &objects[i];
    if (n_objects == MAX_OBJECTS)
        return NULL;
    struct object_symbols *object = &objects[n_objects++];
    *object = (struct object_symbols){.map_start = map_start, .path_hash = path_hash};
    index_object(object, path);
    return object;
}

void cdm__symtab_setup(void)
{
    struct dl_find_object self;
    if (_dl_find_object((void *)cdm__symtab_setup, &self) == 0)
        library_start = (uintptr_t)self.dlfo_map_start;
}

void cdm__symtab_locate(uintptr_t ip, struct cdm_code_location *out)
{
    *out = (struct cdm_code_location){.object = "?", .function = "?"};
    struct dl_find_object found;
    /* ip - 1: a return address may point past the end of the calling function. */
    if (_dl_find_object((void *)(ip - 1), &found) != 0 || !found.dlfo_link_map)
        return;
    const struct link_map *map = found.dlfo_link_map;
    /* The loader names the program "" (it was run as "build/app"): its real path lets the
     * report find it again from elsewhere. */
    out->object = map->l_name[0] ? map->l_name : cdm__rt.exe[0] ? cdm__rt.exe : "?";
    out->offset = ip - (uintptr_t)found.dlfo_map_start;
    out->in_library = (uintptr_t)found.dlfo_map_start == library_start;
    pthread_mutex_lock(&lock);
    const struct object_symbols *object = object_of((uintptr_t)found.dlfo_map_start, out->object);
    const char *function = object ? function_at(object, ip - 1 - map->l_addr) : NULL;
    pthread_mutex_unlock(&lock);
    if (function)
        out->function = function;
}

void cdm__symtab_prepare_fork(void)
{
    pthread_mutex_lock(&lock);
}

void cdm__symtab_after_fork(bool child)
{
    if (child)
        pthread_mutex_init(&lock, NULL);
    else
        pthread_mutex_unlock(&lock);
}
