// SPDX-License-Identifier: MIT
/* A C++ program that allocates from a C++ function (`cxx`), from a static function that no
 * symbol holds once the program is stripped (`hidden`), or from one named as a compiler names
 * a clone (`clone`): for the report's call-site names.
 * Built twice: with debug info, and stripped of all but its dynamic (exported) symbols. */
#include <cstdlib>
#include <cstring>

namespace fixture {
struct Loader {
    __attribute__((noinline)) static void *load(std::size_t size)
    {
        void *buffer = std::malloc(size);
        __asm__ volatile("" ::: "memory"); /* keep this frame: no tail call */
        return buffer;
    }
};
} // namespace fixture

/* Exported, and just below hidden_load in the file: the nearest symbol a stripped object has
 * for hidden_load's addresses, which it does not hold. */
extern "C" __attribute__((noinline)) void *fixture_exported(std::size_t size)
{
    void *buffer = std::calloc(1, size);
    __asm__ volatile("" ::: "memory");
    return buffer;
}

/* Hidden, not static: emitted in the file's order, after fixture_exported, and left out of the
 * dynamic symbols. */
__attribute__((noinline, visibility("hidden"))) void *hidden_load(std::size_t size)
{
    void *buffer = std::malloc(size);
    __asm__ volatile("" ::: "memory");
    return buffer;
}

/* GCC's name for a clone of clone_load; hidden, so a stripped object names it only through
 * its debug information. */
extern "C" void *clone_load(std::size_t size) __asm__("clone_load.constprop.0");
extern "C" __attribute__((noinline, visibility("hidden"))) void *clone_load(std::size_t size)
{
    void *buffer = std::malloc(size);
    __asm__ volatile("" ::: "memory");
    return buffer;
}

int main(int argc, char **argv)
{
    bool hidden = argc > 1 && !std::strcmp(argv[1], "hidden");
    bool clone = argc > 1 && !std::strcmp(argv[1], "clone");
    for (int i = 0; i < 3; i++) {
        void *buffer = hidden  ? hidden_load(4 << 20)
                       : clone ? clone_load(4 << 20)
                               : fixture::Loader::load(4 << 20);
        if (!buffer)
            return 1;
        std::memset(buffer, 1, 4 << 20);
        std::free(buffer);
    }
    return 0;
}
