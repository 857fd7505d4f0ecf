# util.cmake: the md_util library (util/util.h: little-endian integers and a bounds-checked
# reader, an intrusive list, the UTF-8 sanitiser; libc only) and its unit test. Included from
# the top-level CMakeLists.txt before every module that uses it. Builds that compile a module's
# sources directly (tests/sim, tests/fuzz) add MD_UTIL_SOURCES and MD_UTIL_DIR themselves.

set(MD_UTIL_DIR ${CMAKE_SOURCE_DIR}/util)
set(MD_UTIL_SOURCES ${CMAKE_SOURCE_DIR}/util/util.c)

add_library(md_util STATIC ${MD_UTIL_SOURCES})
target_include_directories(md_util PUBLIC ${MD_UTIL_DIR})

md_test(unit.test_util SOURCES tests/unit/test_util.c LIBS md_util)
