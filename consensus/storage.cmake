# storage.cmake: durable Raft storage (consensus/storage.h): the md_raft_storage library (libc and
# POSIX only) and its unit tests. Included from the top-level CMakeLists.txt.

add_library(md_raft_storage STATIC
  consensus/crc32c.c
  consensus/record.c
  consensus/io.c
  consensus/files.c
  consensus/segment.c
  consensus/recover.c
  consensus/storage.c
)
target_include_directories(md_raft_storage PUBLIC consensus)
target_link_libraries(md_raft_storage PUBLIC md_util)

foreach(t IN ITEMS test_storage_basic test_storage_recovery test_storage_faults)
  md_test(unit.${t} SOURCES tests/unit/${t}.c LIBS md_raft_storage)
endforeach()
